"""Type stubs of the native module ``llmtap._llmtap``."""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

Payload = Union[Mapping[str, Any], str, bytes]
Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]

SETTINGS: List[str]
__version__: str

class PayloadError(ValueError):
    """The value is not a standard logging payload (or not an event)."""

class ConfigError(ValueError):
    """A setting is unknown or of the wrong type, or no destination is set
    (``api_key`` for PostHog, ``postgres_url`` for PostgreSQL)."""

class Client:
    """Sends LLM calls to PostHog, PostgreSQL or both; ``log`` and ``capture``
    never wait on the network.

    ``api_key`` (``POSTHOG_API_KEY``) sends to PostHog, ``postgres_url``
    (``LLMTAP_POSTGRES_URL``, a ``postgres://`` URL) stores every call as a
    row of ``llm_calls``; one of them is required. With both, each gets every
    event from the one pipeline, with its own queue, retries and counts.

    ``stats()`` (and ``flush``/``shutdown``, which add ``timed_out``)::

        {"accepted": int, "delivered": int, "pending": int,
         "dropped": {reason: int, ...}, "duplicates": int, "alerts": int,
         "last_error": str | None,
         "destinations": {"posthog": {...}, "postgres": {...}}}

    ``destinations`` has an entry per configured destination: its
    ``delivered``, ``pending``, ``dropped`` by reason, ``retries`` and
    ``last_rejection`` (``{"status", "events", "message"}`` of the last batch
    it refused, or None). With two destinations the top-level counts combine
    them: ``delivered`` counts what both delivered (the smaller count),
    ``pending`` what either still holds, ``dropped`` adds up their drops (an
    event lost at both counts twice) plus what never reached them
    (``queue_full`` and ``closed`` at the channel, ``malformed``).
    The database password never appears in ``repr()``, errors or stats.
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = ...,
        posthog_host: Optional[str] = ...,
        postgres_url: Optional[str] = ...,
        privacy_mode: Optional[bool] = ...,
        properties: Optional[Mapping[str, Any]] = ...,
        queue_capacity: Optional[int] = ...,
        queue_bytes: Optional[int] = ...,
        batch_size: Optional[int] = ...,
        max_in_flight: Optional[int] = ...,
        flush_interval_ms: Optional[int] = ...,
        gzip: Optional[bool] = ...,
        max_event_bytes: Optional[int] = ...,
        pricing: Optional[str] = ...,
        prefix_key: Optional[str] = ...,
        dedup_window: Optional[int] = ...,
        shutdown_timeout_secs: Optional[int] = ...,
    ) -> None: ...
    @property
    def posthog_host(self) -> str: ...
    @property
    def postgres_url(self) -> Optional[str]:
        """The PostgreSQL URL without its password (``postgres://u:***@h/db``)."""
    @property
    def destinations(self) -> List[str]:
        """``"posthog"`` (with an API key) and/or ``"postgres"`` (with a URL)."""
    @property
    def fingerprint(self) -> str: ...
    @property
    def shutdown_timeout_secs(self) -> int: ...
    def log(self, slp: Payload, headers: Optional[Headers] = None) -> bool: ...
    def log_kwargs(self, kwargs: Mapping[str, Any]) -> bool: ...
    def capture(self, event: Mapping[str, Any]) -> bool: ...
    def flush(self, timeout: float = 10.0) -> Dict[str, Any]: ...
    def shutdown(self, timeout: Optional[float] = None) -> Dict[str, Any]: ...
    def stats(self) -> Dict[str, Any]: ...

def normalize(slp: Payload) -> Dict[str, Optional[int]]: ...
def build_event(
    slp: Payload,
    headers: Optional[Headers] = None,
    *,
    privacy_mode: bool = False,
    properties: Optional[Mapping[str, Any]] = None,
    max_event_bytes: Optional[int] = None,
    pricing: Optional[str] = None,
    prefix_key: Optional[str] = None,
) -> Dict[str, Any]: ...
def _at_exit() -> None: ...
