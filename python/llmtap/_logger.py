"""The LiteLLM callback: a ``CustomLogger`` whose four methods hand the
standard logging payload to llmtap's Rust core and return."""

from typing import Any, Dict, Optional

from llmtap._llmtap import Client

try:  # LiteLLM stays optional: without it the logger is a plain object.
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # pragma: no cover - exercised where LiteLLM is absent
    _Base = object


class LiteLLMLogger(_Base):  # type: ignore[misc, valid-type]
    """Every LiteLLM call as a PostHog ``$ai_generation`` (or
    ``$ai_embedding``) event, and/or a row of PostgreSQL's ``llm_calls``.

    SDK::

        litellm.callbacks = [llmtap.LiteLLMLogger()]

    Proxy (``config.yaml``)::

        litellm_settings:
          callbacks: llmtap.litellm.logger

    Settings are keyword arguments with the names of ``llmtap serve``'s
    config file (``llmtap.SETTINGS``), else ``POSTHOG_API_KEY``,
    ``POSTHOG_HOST`` and ``LLMTAP_<NAME>`` from the environment. The
    destinations: ``api_key`` (PostHog), ``postgres_url`` (PostgreSQL,
    ``LLMTAP_POSTGRES_URL``), or both, each then getting every call.

    Each method queues ``kwargs["standard_logging_object"]`` and returns:
    the payload is turned into JSON on the caller's thread, and everything
    else (events, batches, retries) happens on Rust threads without the GIL.
    A call logged through both the sync and the async method is one event.
    """

    def __init__(self, **settings: Any) -> None:
        self._client = Client(**settings)
        if _Base is not object:
            super().__init__()
        # LiteLLM registers a custom logger only if no registered one has the
        # same class and public plain attributes: these make loggers with
        # different settings (another host, another project key) distinct.
        self.posthog_host = self._client.posthog_host
        self.settings_fingerprint = self._client.fingerprint
        # Bound once: the four hooks are the hot path.
        self._log = self._client.log_kwargs

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._log(kwargs)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._log(kwargs)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._log(kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._log(kwargs)

    @property
    def client(self) -> Client:
        """The :class:`llmtap.Client` underneath."""
        return self._client

    def flush(self, timeout: float = 10.0) -> Dict[str, Any]:
        """Waits up to ``timeout`` seconds for everything logged so far to be
        delivered (or dropped); returns :meth:`stats` with ``timed_out``."""
        return self._client.flush(timeout)

    def shutdown(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Flushes, then refuses further calls, within ``timeout`` seconds
        (default: the ``shutdown_timeout_secs`` setting); also runs at
        interpreter exit."""
        return self._client.shutdown(timeout)

    def stats(self) -> Dict[str, Any]:
        """``accepted``, ``delivered``, ``pending``, ``dropped`` by reason,
        ``duplicates``, ``alerts``, ``last_error`` and ``destinations`` (each
        destination's own counts), for this process; see
        :class:`llmtap.Client`."""
        return self._client.stats()

    def __repr__(self) -> str:
        return f"LiteLLMLogger({self._client!r})"
