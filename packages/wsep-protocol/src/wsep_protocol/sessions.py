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

Importing this module registers the messages with the codec and the message
lists; :mod:`wsep_protocol` imports it, so they are always known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from . import codec
from .codec import INT64_MAX, UINT16_MAX, _get_bool, _get_int, _get_str, _parse_command, encode_json
from .command import Command
from .errors import ErrorCode, MalformedMessage, PolicyViolation
from .messages import CLIENT_MESSAGES, SERVER_MESSAGES

__all__ = [
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
class Attach:
    """Attach to session ``id``; start ``command`` first if given and there is none.

    ``rows``/``cols`` (0: not stated) are this client's terminal size.
    ``stdout_offset``/``stderr_offset`` (None: from the oldest byte held) are
    where a resumable job's output is to resume.
    """

    TYPE: ClassVar[str] = "attach"
    PHASE: ClassVar[str] = "start"
    id: str
    command: Command | None = None
    resumable: bool = False
    read_only: bool = False
    rows: int = 0
    cols: int = 0
    stdout_offset: int | None = None
    stderr_offset: int | None = None


@dataclass(frozen=True, slots=True)
class ListSessions:
    TYPE: ClassVar[str] = "list_sessions"
    PHASE: ClassVar[str] = "idle"


@dataclass(frozen=True, slots=True)
class GetSession:
    TYPE: ClassVar[str] = "session_info"
    PHASE: ClassVar[str] = "idle"
    id: str


@dataclass(frozen=True, slots=True)
class EndSession:
    """End session ``id``: its process is hung up / terminated, attached clients get its exit."""

    TYPE: ClassVar[str] = "end_session"
    PHASE: ClassVar[str] = "idle"
    id: str


# --- server messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attached:
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


@dataclass(frozen=True, slots=True)
class Gap:
    """``length`` bytes of ``stream`` from ``offset`` were evicted before this client saw them."""

    TYPE: ClassVar[str] = "gap"
    stream: str
    offset: int
    length: int


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
class SessionList:
    TYPE: ClassVar[str] = "sessions"
    PHASE: ClassVar[str] = "idle"
    sessions: tuple[SessionDescription, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionDetails:
    TYPE: ClassVar[str] = "session"
    PHASE: ClassVar[str] = "idle"
    session: SessionDescription


@dataclass(frozen=True, slots=True)
class SessionEnded:
    TYPE: ClassVar[str] = "session_ended"
    PHASE: ClassVar[str] = "idle"
    id: str


# --- encoding ----------------------------------------------------------------------


def _header(obj: dict[str, Any]) -> bytes:
    return encode_json(obj) + b"\n"


def _encode_attach(m: Attach) -> bytes:
    obj: dict[str, Any] = {"type": "attach", "id": m.id}
    if m.command is not None:
        obj["command"] = codec._command_json(m.command)
    obj.update(resumable=m.resumable, read_only=m.read_only, rows=m.rows, cols=m.cols)
    if m.stdout_offset is not None:
        obj["stdout_offset"] = m.stdout_offset
    if m.stderr_offset is not None:
        obj["stderr_offset"] = m.stderr_offset
    return _header(obj)


def _client_json(c: ClientInfo) -> dict[str, Any]:
    return {
        "peer": c.peer,
        "read_only": c.read_only,
        "since": c.since,
        "rows": c.rows,
        "cols": c.cols,
    }


def _description_json(d: SessionDescription) -> dict[str, Any]:
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


codec.ENCODERS.update(
    {
        Attach: _encode_attach,
        ListSessions: lambda m: _header({"type": "list_sessions"}),
        GetSession: lambda m: _header({"type": "session_info", "id": m.id}),
        EndSession: lambda m: _header({"type": "end_session", "id": m.id}),
        Attached: lambda m: _header(
            {
                "type": "attached",
                "id": m.id,
                "created": m.created,
                "tty": m.tty,
                "resumable": m.resumable,
                "read_only": m.read_only,
                "stdout_offset": m.stdout_offset,
                "stderr_offset": m.stderr_offset,
            }
        ),
        Gap: lambda m: _header(
            {"type": "gap", "stream": m.stream, "offset": m.offset, "length": m.length}
        ),
        SessionList: lambda m: _header(
            {"type": "sessions", "sessions": [_description_json(d) for d in m.sessions]}
        ),
        SessionDetails: lambda m: _header(
            {"type": "session", "session": _description_json(m.session)}
        ),
        SessionEnded: lambda m: _header({"type": "session_ended", "id": m.id}),
    }
)


# --- decoding ----------------------------------------------------------------------


def _session_id(obj: dict[str, Any], where: str) -> str:
    value = _get_str(obj, "id", where, nul_ok=False)
    if not value:
        raise MalformedMessage(f"{where}.id must not be empty")
    return value


def _offset(obj: dict[str, Any], key: str, where: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _get_int(obj, key, where, 0, INT64_MAX)


def _parse_attach(obj: dict[str, Any], body: memoryview | None) -> Attach:
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


def _parse_attached(obj: dict[str, Any], body: memoryview | None) -> Attached:
    return Attached(
        id=_get_str(obj, "id", "attached"),
        created=_get_bool(obj, "created", "attached"),
        tty=_get_bool(obj, "tty", "attached"),
        resumable=_get_bool(obj, "resumable", "attached"),
        read_only=_get_bool(obj, "read_only", "attached"),
        stdout_offset=_get_int(obj, "stdout_offset", "attached", 0, INT64_MAX),
        stderr_offset=_get_int(obj, "stderr_offset", "attached", 0, INT64_MAX),
    )


def _parse_gap(obj: dict[str, Any], body: memoryview | None) -> Gap:
    stream = _get_str(obj, "stream", "gap")
    if stream not in STREAMS:
        raise MalformedMessage(f"gap.stream must be one of {STREAMS}")
    return Gap(
        stream=stream,
        offset=_get_int(obj, "offset", "gap", 0, INT64_MAX),
        length=_get_int(obj, "length", "gap", 0, INT64_MAX),
    )


def _get_float(obj: dict[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedMessage(f"{where}.{key} must be a number")
    return float(value)


def _parse_client(obj: Any) -> ClientInfo:
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


def _parse_description(obj: Any) -> SessionDescription:
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


def _parse_session_list(obj: dict[str, Any], body: memoryview | None) -> SessionList:
    sessions = obj.get("sessions")
    if sessions is None:
        sessions = []
    if not isinstance(sessions, list):
        raise MalformedMessage("sessions.sessions must be a list")
    return SessionList(tuple(_parse_description(d) for d in sessions))


_PARSERS: dict[str, Any] = {
    "attach": _parse_attach,
    "list_sessions": lambda obj, body: ListSessions(),
    "session_info": lambda obj, body: GetSession(_session_id(obj, "session_info")),
    "end_session": lambda obj, body: EndSession(_session_id(obj, "end_session")),
    "attached": _parse_attached,
    "gap": _parse_gap,
    "sessions": _parse_session_list,
    "session": lambda obj, body: SessionDetails(_parse_description(obj.get("session"))),
    "session_ended": lambda obj, body: SessionEnded(_get_str(obj, "id", "session_ended")),
}
codec.PARSERS.update(_PARSERS)

_CLIENT: tuple[type, ...] = (Attach, ListSessions, GetSession, EndSession)
_SERVER: tuple[type, ...] = (Attached, Gap, SessionList, SessionDetails, SessionEnded)
CLIENT_MESSAGES.extend(cls for cls in _CLIENT if cls not in CLIENT_MESSAGES)
SERVER_MESSAGES.extend(cls for cls in _SERVER if cls not in SERVER_MESSAGES)
