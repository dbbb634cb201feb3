"""What the connection handler asks of reattachable sessions: one interface, two forms.

The handler holds one :class:`SessionService` per connection and never looks
at what kind of process it serves. :class:`ManagedSessions` serves sessions
from a :class:`SessionManager`: a ``start`` with an ``id`` and ``tty: true``
(or a v2 ``attach``) opens a session, and management requests
(``list_sessions``, ``session_info``, ``end_session``) are answered.
:class:`NoSessions` is the form for a server without sessions: every start
is an ordinary process, and session messages are refused.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

from wsep_protocol import Command, Execer, PolicyViolation, Process, Start
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

from .attachment import SessionProcess
from .manager import SessionManager

if TYPE_CHECKING:
    from ..policy.decision import Lease

__all__ = [
    "SESSION_MESSAGES",
    "Launch",
    "LimitEnd",
    "ManagedSessions",
    "NoSessions",
    "SessionReply",
    "SessionService",
    "session_service",
]

#: The management requests a client may send instead of a ``start``.
_REQUESTS = (ListSessions, GetSession, EndSession)
#: Every client message of the extension: ``attach`` first, then the requests.
SESSION_MESSAGES = (Attach, *_REQUESTS)
#: Starts a command through an execer (the handler's: as the policy decided).
Launch = Callable[[Execer, Command], Awaitable[Process]]
#: The answer to a management request.
SessionReply = Union[SessionList, SessionDetails, SessionEnded]  # noqa: UP007 (3.10 runtime)


class LimitEnd(enum.Enum):
    """What a run-time limit ends (see :meth:`SessionService.end_for_limit`)."""

    #: The session ends, and with it its process: the output pump sees the exit.
    SESSION = "session"
    #: Only this connection ends (an observer of a session).
    CONNECTION = "connection"
    #: Not a session: the handler closes the process.
    PROCESS = "process"


@runtime_checkable
class SessionService(Protocol):
    """Reattachable sessions as one connection sees them."""

    def accepts(self, message: object) -> bool:
        """A message of the sessions extension (``attach`` or a management request)."""
        ...

    async def handle(self, message: object) -> Start | SessionReply:
        """The ``start`` an ``attach`` stands for, or the reply to a request.

        Raises ``PolicyViolation`` (``NoSuchSession``; sessions off).
        """
        ...

    def reattaches(self, start: Start) -> bool:
        """Whether ``start`` attaches to a session this identity already has."""
        ...

    async def open(self, start: Start, execer: Execer, launch: Launch) -> Process:
        """The process to serve for ``start``: a session's (started through the session
        manager's execer), or ``launch(execer, start.command)``."""
        ...

    def announcement(self) -> Sequence[Attached | Gap]:
        """The v2 messages to send right after ``pid``."""
        ...

    def limit_duration(self, seconds: float, reason: str) -> bool:
        """Put the duration limit on the session; ``False`` if the handler must time it."""
        ...

    def limit_reason(self) -> str:
        """Why a limit ended the session ("" if none did)."""
        ...

    def end_for_limit(self, reason: str) -> LimitEnd:
        """End what a run-time limit ends; says what the handler still has to do."""
        ...

    def release_after(self, lease: Lease | None) -> None:
        """Release ``lease`` once what the start allowed has ended (the connection ends)."""
        ...

    def outlives_connection(self) -> bool:
        """Whether the process served lives on without this connection (a session that
        has not exited): the handler then has no exit status to wait for."""
        ...


class NoSessions:
    """Sessions are off: ordinary processes only; session messages are refused."""

    def accepts(self, message: object) -> bool:
        return isinstance(message, SESSION_MESSAGES)

    async def handle(self, message: object) -> Start | SessionReply:
        raise PolicyViolation("reattachable sessions are off on this server")

    def reattaches(self, start: Start) -> bool:
        return False

    async def open(self, start: Start, execer: Execer, launch: Launch) -> Process:
        return await launch(execer, start.command)

    def announcement(self) -> Sequence[Attached | Gap]:
        return ()

    def limit_duration(self, seconds: float, reason: str) -> bool:
        return False

    def limit_reason(self) -> str:
        return ""

    def end_for_limit(self, reason: str) -> LimitEnd:
        return LimitEnd.PROCESS

    def release_after(self, lease: Lease | None) -> None:
        if lease is not None:
            lease.release()

    def outlives_connection(self) -> bool:
        return False


class ManagedSessions(NoSessions):
    """Sessions of a :class:`SessionManager`, for one connection of ``identity`` from ``peer``."""

    def __init__(self, manager: SessionManager, *, identity: Any, peer: str) -> None:
        self.manager = manager
        self.identity = identity
        self.peer = peer
        self._attach: Attach | None = None
        #: The session this connection serves (None: an ordinary process).
        self._process: SessionProcess | None = None

    async def handle(self, message: object) -> Start | SessionReply:
        manager, identity = self.manager, self.identity
        if isinstance(message, Attach):
            start = self._start_for_attach(message)
            self._attach = message
            return start
        if isinstance(message, ListSessions):
            return SessionList(tuple(s.describe() for s in manager.list(identity)))
        if isinstance(message, GetSession):
            return SessionDetails(manager.get(identity, message.id).describe())
        if isinstance(message, EndSession):
            session = await manager.end(identity, message.id)
            return SessionEnded(session.id)
        raise TypeError(f"not a session message: {message!r}")

    def _start_for_attach(self, attach: Attach) -> Start:
        """The ``start`` an ``attach`` stands for (for the policy and the session record).

        Without a command, it is the existing session's; raises :class:`NoSuchSession`.
        """
        if attach.command is not None and not attach.read_only:
            return Start(command=attach.command, id=attach.id)
        session = self.manager.find(self.identity, attach.id)
        if session is None:
            raise NoSuchSession(f"no session {attach.id!r}")
        return Start(command=session.command, id=attach.id)

    def _names_session(self, start: Start) -> bool:
        # A v1 ``start`` names a reattachable terminal session with an id and a TTY.
        return self._attach is not None or (bool(start.id) and start.command.tty)

    def reattaches(self, start: Start) -> bool:
        return self._names_session(start) and (
            self.manager.find(self.identity, start.id) is not None
        )

    async def open(self, start: Start, execer: Execer, launch: Launch) -> Process:
        if not self._names_session(start):
            return await launch(execer, start.command)
        starter = functools.partial(launch, self.manager.execer)
        attach = self._attach
        if attach is None:
            command = start.command
            size = (command.rows, command.cols) if command.rows and command.cols else None
            process = await self.manager.open(
                start.id, command, identity=self.identity, peer=self.peer, size=size, launch=starter
            )
        else:
            size = (attach.rows, attach.cols) if attach.rows and attach.cols else None
            process = await self.manager.open(
                attach.id,
                attach.command,
                identity=self.identity,
                peer=self.peer,
                read_only=attach.read_only,
                resumable=attach.resumable,
                size=size,
                offsets={"stdout": attach.stdout_offset, "stderr": attach.stderr_offset},
                launch=starter,
            )
        self._process = process
        return process

    def announcement(self) -> Sequence[Attached | Gap]:
        return () if self._process is None else self._process.announcement()

    def limit_duration(self, seconds: float, reason: str) -> bool:
        """Only an interactive client's limit binds the session: it then ends on time
        whether anyone is attached or not, and reattaching does not restart the
        clock. An observer's limit is its own connection's business."""
        process = self._process
        if process is None or process.read_only:
            return False
        process.session.limit_duration(seconds, reason)
        return True

    def limit_reason(self) -> str:
        return "" if self._process is None else self._process.session.limit_reason

    def end_for_limit(self, reason: str) -> LimitEnd:
        """Merely detaching would leave the command running for the next attach."""
        process = self._process
        if process is None:
            return LimitEnd.PROCESS
        if process.read_only:
            return LimitEnd.CONNECTION
        process.session.end_for_limit(reason)
        return LimitEnd.SESSION

    def release_after(self, lease: Lease | None) -> None:
        """A session this connection created outlives it: the lease lasts until it ends."""
        if lease is None:
            return
        process = self._process
        if process is not None and process.created:
            process.session.when_ended(lease.release)
        else:
            lease.release()

    def outlives_connection(self) -> bool:
        process = self._process
        return process is not None and not process.session.exited.is_set()


def session_service(manager: SessionManager | None, *, identity: Any, peer: str) -> SessionService:
    """The service for one connection: ``manager``'s sessions, or none."""
    if manager is None:
        return NoSessions()
    return ManagedSessions(manager, identity=identity, peer=peer)
