"""llmtap: every LiteLLM call in PostHog (and/or PostgreSQL), with token
accounting you can trust.

The Python package of llmtap, on its Rust core:

- :class:`LiteLLMLogger` (imported on first use, so ``import llmtap`` does not
  import LiteLLM): a ``CustomLogger`` for ``litellm.callbacks``; the proxy's
  config names the ready-made ``llmtap.litellm.logger``.
- :class:`Client`: PostHog, PostgreSQL or both, for any Python gateway:
  ``log(slp)`` for a LiteLLM standard logging payload, ``capture(event)`` for
  a finished event. Neither waits on the network: a Rust thread builds the
  events and one per destination sends them, with the GIL released.
- :func:`normalize` and :func:`build_event`: the pure functions.

Settings have the names of ``llmtap serve``'s config file (``SETTINGS``)
and the same environment variables: ``POSTHOG_API_KEY``, ``POSTHOG_HOST``,
``LLMTAP_<NAME>`` (``LLMTAP_POSTGRES_URL``). ``api_key`` sends to PostHog,
``postgres_url`` to PostgreSQL; one of them is required.
"""

import atexit as _atexit
from typing import TYPE_CHECKING

from llmtap._llmtap import (
    SETTINGS,
    Client,
    ConfigError,
    PayloadError,
    __version__,
    _at_exit,
    build_event,
    normalize,
)

__all__ = [
    "Client",
    "ConfigError",
    "LiteLLMLogger",
    "PayloadError",
    "SETTINGS",
    "__version__",
    "build_event",
    "normalize",
]

if TYPE_CHECKING:  # for type checkers; at run time it is imported on first use
    from llmtap._logger import LiteLLMLogger

# Clients flush what they hold when the interpreter exits, each within its
# `shutdown_timeout_secs`.
_atexit.register(_at_exit)


def __getattr__(name):
    # LiteLLM takes seconds to import: only a user of the logger pays for it.
    if name == "LiteLLMLogger":
        from llmtap._logger import LiteLLMLogger

        return LiteLLMLogger
    raise AttributeError(f"module 'llmtap' has no attribute {name!r}")
