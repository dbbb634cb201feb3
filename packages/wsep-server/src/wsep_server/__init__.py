"""wsep server: serves commands over WebSocket with aiohttp.

Public API::

    create_app(*, execer=None, path="/", config=None, policy=None, observers=(),
               middlewares=(), versions=(V1, V2), log_connections=True,
               handler_class=ConnectionHandler, session_manager=None) -> web.Application
    WsepHandler(...)            # mount on any route of your own app
    ConnectionHandler           # serves one WebSocket connection (subclass for handler_class)
    ServerConfig(...)           # compress, max_receive_size, heartbeat, grace_period, ...
    hooks: IDENTITY_KEY, Identity, StartPolicy, RunLimits, ConnectionObserver, ConnectionRecord
    policy: StartRequest -> StartPolicy.decide -> StartDecision (RunAs, EnvironmentPlan)
"""

from __future__ import annotations

import warnings
from typing import Any

from .app import (
    CONFIG_KEY,
    EXECER_KEY,
    HANDLER_KEY,
    TOKEN_SUBPROTOCOL_PREFIX,
    WsepHandler,
    create_app,
    default_execer,
)
from .config import DEFAULT_MAX_RECEIVE_SIZE, ServerConfig
from .handler import ConnectionHandler
from .hooks import (
    IDENTITY_KEY,
    AllowAll,
    ConnectionObserver,
    ConnectionRecord,
    Identity,
    RunLimits,
    StartPolicy,
)
from .loader import load_execer
from .logs import ConnectionLogObserver, JsonFormatter, configure_logging
from .policy.decision import RunAs, StartDecision, StartRequest

__version__ = "0.1.0"

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_MAX_RECEIVE_SIZE",
    "EXECER_KEY",
    "HANDLER_KEY",
    "IDENTITY_KEY",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "AllowAll",
    "ConnectionHandler",
    "ConnectionLogObserver",
    "ConnectionObserver",
    "ConnectionRecord",
    "Identity",
    "JsonFormatter",
    "RunAs",
    "RunLimits",
    "ServerConfig",
    "StartDecision",
    "StartPolicy",
    "StartRequest",
    "WsepHandler",
    "__version__",
    "configure_logging",
    "create_app",
    "default_execer",
    "load_execer",
]


def __getattr__(name: str) -> Any:
    if name == "Session":  # the old name of the connection handler
        warnings.warn(
            "wsep_server.Session is deprecated: use wsep_server.ConnectionHandler",
            DeprecationWarning,
            stacklevel=2,
        )
        return ConnectionHandler
    from .hooks import _renamed

    return _renamed(__name__, name, globals())
