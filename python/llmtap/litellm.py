"""For LiteLLM's proxy: ``litellm_settings: callbacks: llmtap.litellm.logger``.

LiteLLM splits that name at the last dot, imports ``llmtap.litellm`` (no
``llmtap.py`` next to the config needed) and takes ``logger``: one
:class:`llmtap.LiteLLMLogger` configured from the environment
(``POSTHOG_API_KEY``, ``POSTHOG_HOST``, ``LLMTAP_<NAME>``: with
``LLMTAP_POSTGRES_URL`` every call is a row in PostgreSQL too, or only
there without ``POSTHOG_API_KEY``). Its threads
start at the first call in each worker process, so the proxy's forked
workers each get their own.

The proxy runs under uvicorn, which ends the process on SIGTERM by raising
the signal again once the server has stopped, so interpreter-exit hooks
(``atexit``, where llmtap and LiteLLM's own loggers flush) never run. When
this module is imported on the main thread (LiteLLM loads its callbacks
there, inside the server's startup), it therefore wraps the SIGTERM and
SIGINT handlers: the signal first flushes what the logger holds (for at most
``shutdown_timeout_secs``, 5 s at most, since the proxy's loop waits), then
reaches the server as before. Calls still in flight when the signal arrives
are sent by the periodic flush if the proxy lives long enough.

For settings other than the environment's, put a module next to the
config (``my_callbacks.py``: ``logger = llmtap.LiteLLMLogger(privacy_mode=True)``)
and name ``my_callbacks.logger`` instead.
"""

import signal
import threading

from llmtap._logger import LiteLLMLogger

logger = LiteLLMLogger()

# The longest the proxy's loop waits for the flush on a signal.
SIGNAL_FLUSH_SECS = 5.0


def _flush_then(previous):
    def handler(signum, frame):
        logger.flush(min(SIGNAL_FLUSH_SECS, float(logger.client.shutdown_timeout_secs)))
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    return handler


if threading.current_thread() is threading.main_thread():
    for _signum in (signal.SIGTERM, signal.SIGINT):
        _previous = signal.getsignal(_signum)
        if _previous is not signal.SIG_IGN and _previous is not None:
            signal.signal(_signum, _flush_then(_previous))

__all__ = ["LiteLLMLogger", "logger"]
