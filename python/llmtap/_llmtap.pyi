"""Type stubs of the native module ``llmtap._llmtap``."""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

Payload = Union[Mapping[str, Any], str, bytes]
Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]

SETTINGS: List[str]
__version__: str

class PayloadError(ValueError):
    """The value is not a standard logging payload (or not an event)."""

class ConfigError(ValueError):
    """A setting is unknown, of the wrong type, or missing (the API key)."""

class Client:
    """Sends LLM calls to PostHog; ``log`` and ``capture`` never wait on the network."""

    def __init__(
        self,
        *,
        api_key: Optional[str] = ...,
        posthog_host: Optional[str] = ...,
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
