"""What the connection handler calls to serve sessions: the seam between the two.

The handler stays in charge of the connection (policy, limits, observers,
output pump, close codes); for a ``start`` with an ``id`` and ``tty: true``
(or a v2 ``attach``) it asks :func:`open_process` for the process to serve,
which is a :class:`SessionProcess` of a new or existing session. Management
requests (``list_sessions``, ``session_info``, ``end_session``) are answered
by :func:`answer`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from wsep_protocol import Start
from wsep_protocol.sessions import (
    Attach,
    Attached,
    EndSession,
    Gap,
    GetSession,
    ListSessions,
    NoSuchSession,
    SessionDetails,
    SessionEnded,
    SessionList,
)

from ..hooks import REATTACH_KEY, SESSION_ENDED_KEY
from .attachment import SessionProcess
from .manager import SessionManager

__all__ = [
    "SESSION_MESSAGES",
    "SESSION_REQUESTS",
    "announcement",
    "answer",
    "end_for_limit",
    "is_session_start",
    "limit_session",
    "mark_request",
    "note_created",
    "open_process",
    "session_limit",
    "start_for_attach",
]

#: The management requests a client may send instead of a ``start``.
SESSION_REQUESTS = (ListSessions, GetSession, EndSession)
#: Every client message of the extension: ``attach`` first, then the requests.
SESSION_MESSAGES = (Attach, *SESSION_REQUESTS)


def is_session_start(start: Start) -> bool:
    """A v1 ``start`` that names a reattachable terminal session."""
    return bool(start.id) and start.command.tty


def start_for_attach(manager: SessionManager, identity: Any, attach: Attach) -> Start:
    """The ``start`` an ``attach`` stands for (for policy checks and the session record).

    Without a command, it is the existing session's; raises :class:`NoSuchSession`.
    """
    if attach.command is not None and not attach.read_only:
        return Start(command=attach.command, id=attach.id)
    session = manager.find(identity, attach.id)
    if session is None:
        raise NoSuchSession(f"no session {attach.id!r}")
    return Start(command=session.command, id=attach.id)


async def open_process(
    manager: SessionManager,
    start: Start,
    attach: Attach | None,
    *,
    identity: Any,
    peer: str,
) -> SessionProcess:
    """Create or reattach the session ``start`` (or ``attach``) names."""
    if attach is None:
        command = start.command
        size = (command.rows, command.cols) if command.rows and command.cols else None
        return await manager.open(start.id, command, identity=identity, peer=peer, size=size)
    size = (attach.rows, attach.cols) if attach.rows and attach.cols else None
    return await manager.open(
        attach.id,
        attach.command,
        identity=identity,
        peer=peer,
        read_only=attach.read_only,
        resumable=attach.resumable,
        size=size,
        offsets={"stdout": attach.stdout_offset, "stderr": attach.stderr_offset},
    )


def mark_request(
    request: web.Request,
    manager: SessionManager | None,
    identity: Any,
    start: Start,
    attach: Attach | None,
) -> None:
    """Tell a per-identity session count (``check_start`` reads it) that this start
    attaches to a session the identity already has, so it is not counted twice."""
    if manager is None or not (attach is not None or is_session_start(start)):
        return
    if manager.find(identity, start.id) is not None:
        request[REATTACH_KEY] = True


def note_created(request: web.Request, process: object) -> None:
    """A request that created a reattachable session: its count lasts until the session ends."""
    if isinstance(process, SessionProcess) and process.created:
        request[SESSION_ENDED_KEY] = process.session.ended


def limit_session(process: object, max_duration: float, reason: str) -> bool:
    """Put a duration limit on the session behind ``process``; ``False`` if there is none.

    Only an interactive client's limit binds the session: it then ends on time
    whether anyone is attached or not, and reattaching does not restart the
    clock. An observer's limit is its own connection's business.
    """
    if not isinstance(process, SessionProcess) or process.read_only:
        return False
    process.session.limit_duration(max_duration, reason)
    return True


def end_for_limit(process: object, reason: str) -> bool:
    """End the session behind ``process`` for a run-time limit; ``False`` if there is none.

    Merely detaching would leave the command running for the next attach.
    """
    if not isinstance(process, SessionProcess) or process.read_only:
        return False
    process.session.end_for_limit(reason)
    return True


def session_limit(process: object) -> str:
    """Why a limit ended the session behind ``process`` ("" if none did)."""
    if isinstance(process, SessionProcess):
        return process.session.limit_reason
    return ""


def announcement(process: object) -> list[Attached | Gap]:
    """The v2 messages to send right after ``pid`` (none for an ordinary process)."""
    if isinstance(process, SessionProcess):
        return list(process.announcement())
    return []


async def answer(
    manager: SessionManager, identity: Any, request: object
) -> SessionList | SessionDetails | SessionEnded:
    """The reply (``sessions``, ``session``, ``session_ended``); may raise ``NoSuchSession``."""
    if isinstance(request, ListSessions):
        return SessionList(tuple(s.describe() for s in manager.list(identity)))
    if isinstance(request, GetSession):
        return SessionDetails(manager.get(identity, request.id).describe())
    if isinstance(request, EndSession):
        session = await manager.end(identity, request.id)
        return SessionEnded(session.id)
    raise TypeError(f"not a session request: {request!r}")
