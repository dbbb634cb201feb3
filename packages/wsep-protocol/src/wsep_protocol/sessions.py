"""v2 extension: reattachable sessions, resumable output, session management.

A v1 ``start`` with an ``id`` and ``tty: true`` already creates or reattaches
a terminal session. v2 adds (see PROTOCOL.md, "Reattachable sessions" and
"Resumable output"):

- ``attach`` (instead of ``start``): reattach to a session by id, read-only if
  asked, resuming a job's output from byte offsets; with a ``command`` it
  creates the session when there is none (``resumable`` for a job without TTY).
- ``attached`` (after ``pid``): what was attached and where its output resumes;
  ``gap``: bytes a resuming client asked for that are no longer held.
- ``list_sessions`` / ``session_info`` / ``end_session`` (instead of ``start``,
  any number of them): answered by ``sessions`` / ``session`` /
  ``session_ended``.

:data:`SESSIONS` is the extension as a :class:`~wsep_protocol.Registry` takes
it; the default registry holds it, so a default ``Connection`` knows these
messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from .codec import (
    INT64_MAX,
    UINT16_MAX,
    _command_json,
    _get_bool,
    _get_int,
    _get_str,
    _parse_command,
    encode_json,
)
from .command import Command
from .errors import ErrorCode, MalformedMessage, PolicyViolation
from .messages import ExtensionMessage, Phase, StartingMessage
from .registry import Extension

__all__ = [
    "SESSIONS",
    "STREAMS",
    "Attach",
    "Attached",
    "ClientInfo",
    "EndSession",
    "Gap",
    "GetSession",
    "ListSessions",
    "NoSuchSession",
    "SessionDescription",
    "SessionDetails",
    "SessionEnded",
    "SessionList",
]

#: The streams a resumable job's output is addressed in.
STREAMS = ("stdout", "stderr")


class NoSuchSession(PolicyViolation):
    """No session of that id that this identity may reach (close 1008, code ``no_such_session``).

    The same answer for "does not exist" and "belongs to someone else", so that
    ids of other identities' sessions cannot be probed.
    """

    error_code = ErrorCode.NO_SUCH_SESSION
    #: The same code under its older name.
    code = ErrorCode.NO_SUCH_SESSION.value


# --- client messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attach(StartingMessage):
    """Attach to session ``id``; start ``command`` first if given and there is none.

    ``rows``/``cols`` (0: not stated) are this client's terminal size.
    ``stdout_offset``/``stderr_offset`` (None: from the oldest byte held) are
    where a resumable job's output is to resume.
    """

    TYPE: ClassVar[str] = "attach"
    id: str
    command: Command | None = None
    resumable: bool = False
    read_only: bool = False
    rows: int = 0
    cols: int = 0
    stdout_offset: int | None = None
    stderr_offset: int | None = None

    def encode(self) -> bytes:
        return _encode_attach(self)

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Attach:
        return _parse_attach(header, body)


@dataclass(frozen=True, slots=True)
class ListSessions(ExtensionMessage):
    TYPE: ClassVar[str] = "list_sessions"
    PHASE: ClassVar[Phase] = Phase.IDLE

    def encode(self) -> bytes:
        return _header({"type": "list_sessions"})

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> ListSessions:
        return cls()


@dataclass(frozen=True, slots=True)
class GetSession(ExtensionMessage):
    TYPE: ClassVar[str] = "session_info"
    PHASE: ClassVar[Phase] = Phase.IDLE
    id: str

    def encode(self) -> bytes:
        return _header({"type": "session_info", "id": self.id})

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> GetSession:
        return cls(_session_id(header, "session_info"))


@dataclass(frozen=True, slots=True)
class EndSession(ExtensionMessage):
    """End session ``id``: its process is hung up / terminated, attached clients get its exit."""

    TYPE: ClassVar[str] = "end_session"
    PHASE: ClassVar[Phase] = Phase.IDLE
    id: str

    def encode(self) -> bytes:
        return _header({"type": "end_session", "id": self.id})

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> EndSession:
        return cls(_session_id(header, "end_session"))


# --- server messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attached(ExtensionMessage):
    """Sent after ``pid`` on a v2 session connection.

    ``created``: a new process was started (else an existing session was
    reattached). For a resumable job, the output that follows starts at
    ``stdout_offset`` / ``stderr_offset`` of each stream.
    """

    TYPE: ClassVar[str] = "attached"
    id: str
    created: bool
    tty: bool
    resumable: bool = False
    read_only: bool = False
    stdout_offset: int = 0
    stderr_offset: int = 0

    def encode(self) -> bytes:
        return _header(
            {
                "type": "attached",
                "id": self.id,
                "created": self.created,
                "tty": self.tty,
                "resumable": self.resumable,
                "read_only": self.read_only,
                "stdout_offset": self.stdout_offset,
                "stderr_offset": self.stderr_offset,
            }
        )

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Attached:
        return _parse_attached(header, body)


@dataclass(frozen=True, slots=True)
class Gap(ExtensionMessage):
    """``length`` bytes of ``stream`` from ``offset`` were evicted before this client saw them."""

    TYPE: ClassVar[str] = "gap"
    stream: str
    offset: int
    length: int

    def encode(self) -> bytes:
        return _header(
            {"type": "gap", "stream": self.stream, "offset": self.offset, "length": self.length}
        )

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Gap:
        return _parse_gap(header, body)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """One attached client, as ``session_info`` shows it."""

    peer: str
    read_only: bool
    since: float
    rows: int = 0
    cols: int = 0


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A session as listed: ``state`` is ``running`` or ``exited``; times are Unix seconds."""

    id: str
    argv: tuple[str, ...]
    tty: bool
    resumable: bool
    pid: int
    created: float
    state: str
    clients: tuple[ClientInfo, ...] = ()
    exit_code: int | None = None
    owner: str | None = None
    rows: int = 0
    cols: int = 0


@dataclass(frozen=True, slots=True)
class SessionList(ExtensionMessage):
    TYPE: ClassVar[str] = "sessions"
    PHASE: ClassVar[Phase] = Phase.IDLE
    sessions: tuple[SessionDescription, ...] = ()

    def encode(self) -> bytes:
        return _header(
            {"type": "sessions", "sessions": [_description_json(d) for d in self.sessions]}
        )

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> SessionList:
        return _parse_session_list(header, body)


@dataclass(frozen=True, slots=True)
class SessionDetails(ExtensionMessage):
    TYPE: ClassVar[str] = "session"
    PHASE: ClassVar[Phase] = Phase.IDLE
    session: SessionDescription

    def encode(self) -> bytes:
        return _header({"type": "session", "session": _description_json(self.session)})

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> SessionDetails:
        return cls(_parse_description(header.get("session")))


@dataclass(frozen=True, slots=True)
class SessionEnded(ExtensionMessage):
    TYPE: ClassVar[str] = "session_ended"
    PHASE: ClassVar[Phase] = Phase.IDLE
    id: str

    def encode(self) -> bytes:
        return _header({"type": "session_ended", "id": self.id})

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> SessionEnded:
        return cls(_get_str(header, "id", "session_ended"))


# --- encoding ----------------------------------------------------------------------


def _header(obj: Mapping[str, object]) -> bytes:
    return encode_json(obj) + b"\n"


def _encode_attach(m: Attach) -> bytes:
    obj: dict[str, object] = {"type": "attach", "id": m.id}
    if m.command is not None:
        obj["command"] = _command_json(m.command)
    obj.update(resumable=m.resumable, read_only=m.read_only, rows=m.rows, cols=m.cols)
    if m.stdout_offset is not None:
        obj["stdout_offset"] = m.stdout_offset
    if m.stderr_offset is not None:
        obj["stderr_offset"] = m.stderr_offset
    return _header(obj)


def _client_json(c: ClientInfo) -> dict[str, object]:
    return {
        "peer": c.peer,
        "read_only": c.read_only,
        "since": c.since,
        "rows": c.rows,
        "cols": c.cols,
    }


def _description_json(d: SessionDescription) -> dict[str, object]:
    return {
        "id": d.id,
        "argv": list(d.argv),
        "tty": d.tty,
        "resumable": d.resumable,
        "pid": d.pid,
        "created": d.created,
        "state": d.state,
        "clients": [_client_json(c) for c in d.clients],
        "exit_code": d.exit_code,
        "owner": d.owner,
        "rows": d.rows,
        "cols": d.cols,
    }


# --- decoding ----------------------------------------------------------------------


def _session_id(obj: Mapping[str, object], where: str) -> str:
    value = _get_str(obj, "id", where, nul_ok=False)
    if not value:
        raise MalformedMessage(f"{where}.id must not be empty")
    return value


def _offset(obj: Mapping[str, object], key: str, where: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _get_int(obj, key, where, 0, INT64_MAX)


def _parse_attach(obj: Mapping[str, object], body: memoryview | None) -> Attach:
    command = None if obj.get("command") is None else _parse_command(obj["command"])
    return Attach(
        id=_session_id(obj, "attach"),
        command=command,
        resumable=_get_bool(obj, "resumable", "attach"),
        read_only=_get_bool(obj, "read_only", "attach"),
        rows=_get_int(obj, "rows", "attach", 0, UINT16_MAX),
        cols=_get_int(obj, "cols", "attach", 0, UINT16_MAX),
        stdout_offset=_offset(obj, "stdout_offset", "attach"),
        stderr_offset=_offset(obj, "stderr_offset", "attach"),
    )


def _parse_attached(obj: Mapping[str, object], body: memoryview | None) -> Attached:
    return Attached(
        id=_get_str(obj, "id", "attached"),
        created=_get_bool(obj, "created", "attached"),
        tty=_get_bool(obj, "tty", "attached"),
        resumable=_get_bool(obj, "resumable", "attached"),
        read_only=_get_bool(obj, "read_only", "attached"),
        stdout_offset=_get_int(obj, "stdout_offset", "attached", 0, INT64_MAX),
        stderr_offset=_get_int(obj, "stderr_offset", "attached", 0, INT64_MAX),
    )


def _parse_gap(obj: Mapping[str, object], body: memoryview | None) -> Gap:
    stream = _get_str(obj, "stream", "gap")
    if stream not in STREAMS:
        raise MalformedMessage(f"gap.stream must be one of {STREAMS}")
    return Gap(
        stream=stream,
        offset=_get_int(obj, "offset", "gap", 0, INT64_MAX),
        length=_get_int(obj, "length", "gap", 0, INT64_MAX),
    )


def _get_float(obj: Mapping[str, object], key: str, where: str) -> float:
    value = obj.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedMessage(f"{where}.{key} must be a number")
    return float(value)


def _parse_client(obj: object) -> ClientInfo:
    if not isinstance(obj, dict):
        raise MalformedMessage("session.clients entries must be objects")
    where = "session.clients"
    return ClientInfo(
        peer=_get_str(obj, "peer", where),
        read_only=_get_bool(obj, "read_only", where),
        since=_get_float(obj, "since", where),
        rows=_get_int(obj, "rows", where, 0, UINT16_MAX),
        cols=_get_int(obj, "cols", where, 0, UINT16_MAX),
    )


def _parse_description(obj: object) -> SessionDescription:
    if not isinstance(obj, dict):
        raise MalformedMessage("session must be an object")
    where = "session"
    argv = obj.get("argv")
    if argv is None:
        argv = []
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise MalformedMessage("session.argv must be a list of strings")
    clients = obj.get("clients")
    if clients is None:
        clients = []
    if not isinstance(clients, list):
        raise MalformedMessage("session.clients must be a list")
    exit_code = obj.get("exit_code")
    owner = obj.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise MalformedMessage("session.owner must be a string")
    return SessionDescription(
        id=_get_str(obj, "id", where),
        argv=tuple(argv),
        tty=_get_bool(obj, "tty", where),
        resumable=_get_bool(obj, "resumable", where),
        pid=_get_int(obj, "pid", where, 0, INT64_MAX),
        created=_get_float(obj, "created", where),
        state=_get_str(obj, "state", where),
        clients=tuple(_parse_client(c) for c in clients),
        exit_code=None
        if exit_code is None
        else _get_int(obj, "exit_code", where, -(2**31), 2**31 - 1),
        owner=owner,
        rows=_get_int(obj, "rows", where, 0, UINT16_MAX),
        cols=_get_int(obj, "cols", where, 0, UINT16_MAX),
    )


def _parse_session_list(obj: Mapping[str, object], body: memoryview | None) -> SessionList:
    sessions = obj.get("sessions")
    if sessions is None:
        sessions = []
    if not isinstance(sessions, list):
        raise MalformedMessage("sessions.sessions must be a list")
    return SessionList(tuple(_parse_description(d) for d in sessions))


#: The session extension: what a client asks, what a server answers.
SESSIONS = Extension(
    "sessions",
    client=(Attach, ListSessions, GetSession, EndSession),
    server=(Attached, Gap, SessionList, SessionDetails, SessionEnded),
)
