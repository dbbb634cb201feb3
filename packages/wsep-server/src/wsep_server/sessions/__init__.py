"""Reattachable terminal sessions and resumable output, without GNU screen.

- :class:`SessionManager` keeps the server's sessions (scoped to identities)
  and attaches clients to them; an attached client is a :class:`SessionProcess`,
  which the connection handler serves like any ``wsep_protocol.Process``.
- :class:`SessionService` is all the connection handler asks of sessions
  (:class:`ManagedSessions`, or :class:`NoSessions` when they are off).
- :class:`TerminalState` is a TTY session's screen, re-rendered on reattach.
- :class:`OutputRing` holds a resumable job's recent output by byte offset.
"""

from __future__ import annotations

from .attachment import SessionProcess
from .config import SessionConfig
from .manager import SessionManager, identity_name
from .ring import OutputRing
from .serving import ManagedSessions, NoSessions, SessionService, session_service
from .session import Session
from .terminal import TerminalLimits, TerminalState

__all__ = [
    "ManagedSessions",
    "NoSessions",
    "OutputRing",
    "Session",
    "SessionConfig",
    "SessionManager",
    "SessionProcess",
    "SessionService",
    "TerminalLimits",
    "TerminalState",
    "identity_name",
    "session_service",
]
