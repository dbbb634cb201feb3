"""Deprecated: the per-connection handler is :mod:`wsep_server.handler` now.

``Session`` was the old name of :class:`~wsep_server.handler.ConnectionHandler`;
"session" now means only a reattachable session (:mod:`wsep_server.sessions`).
"""

from __future__ import annotations

import warnings

from .handler import ConnectionHandler, error_code_for

__all__ = ["Session", "error_code_for"]

warnings.warn(
    "wsep_server.session is deprecated: use wsep_server.handler.ConnectionHandler",
    DeprecationWarning,
    stacklevel=2,
)

#: Deprecated alias of :class:`~wsep_server.handler.ConnectionHandler`.
Session = ConnectionHandler
