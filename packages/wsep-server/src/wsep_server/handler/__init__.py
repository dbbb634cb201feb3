"""The connection handler: one WebSocket connection, one process.

Split by idea: :mod:`.base` (state and the one way to end), :mod:`.handler`
(the receive loop and clean-up), :mod:`.starting` (policy, spawn or attach to
a reattachable session), :mod:`.stdin` (input and its backpressure),
:mod:`.output` (output pump, exit code, limits).
"""

from __future__ import annotations

from .handler import ConnectionHandler, error_code_for

__all__ = ["ConnectionHandler", "error_code_for"]
