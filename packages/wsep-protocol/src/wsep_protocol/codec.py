"""Encoding and decoding of messages: a JSON header, then ``\\n`` and a raw body.

Encoding is byte-exact with the Go original: compact JSON, fields in Go's
struct order, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, and every
server message ending with ``\\n``. Decoding is strict about types and
ranges, tolerant of what v1 peers legitimately vary (a trailing ``\\n`` or
not, unknown fields, unknown types), and never copies a body: data messages
carry a ``memoryview`` into the received buffer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .command import Command
from .errors import CloseCode, MalformedMessage, MessageTooBig
from .messages import (
    AnyMessage,
    Buffer,
    CloseStdin,
    Error,
    ExitCode,
    ExtensionMessage,
    Message,
    Pid,
    Resize,
    Signal,
    Start,
    Stderr,
    Stdin,
    Stdout,
    UnknownMessage,
)
from .status import signal_number
from .versions import MAX_HEADER_SIZE

__all__ = [
    "DATA_HEADERS",
    "STDERR_HEADER",
    "STDIN_HEADER",
    "STDOUT_HEADER",
    "FrameBuffer",
    "decode",
    "encode",
    "encode_json",
    "frame_data",
]

UINT16_MAX = 0xFFFF
UINT32_MAX = 0xFFFF_FFFF
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: The exact bytes before the body of each data message (newline included).
STDIN_HEADER = b'{"type":"stdin"}\n'
STDOUT_HEADER = b'{"type":"stdout"}\n'
STDERR_HEADER = b'{"type":"stderr"}\n'

#: The header of each data message, by class.
DATA_HEADERS: dict[type, bytes] = {
    Stdout: STDOUT_HEADER,
    Stderr: STDERR_HEADER,
    Stdin: STDIN_HEADER,
}

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def encode_json(obj: Mapping[str, object]) -> bytes:
    """JSON as Go's ``encoding/json`` writes it.

    Lone surrogates (``os.fsdecode`` makes them from undecodable argv bytes)
    become U+FFFD, as Go turns invalid UTF-8 into U+FFFD.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = text.translate(_GO_ESCAPES)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


# --- encoding ----------------------------------------------------------------


def _command_json(command: Command) -> dict[str, object]:
    return {
        "command": command.command,
        "args": list(command.args),
        "stdin": command.stdin,
        "tty": command.tty,
        "rows": command.rows,
        "cols": command.cols,
        "uid": command.uid,
        "gid": command.gid,
        "env": list(command.env),
        "working_dir": command.working_dir,
    }


def encode(message: object) -> bytes:
    """The wire bytes of built-in ``message``; extension messages encode themselves.

    Server messages end with ``\\n`` as the Go server's do; ``start`` and
    ``resize`` do not, as the Go client's do not.
    """
    if isinstance(message, Stdout):
        return STDOUT_HEADER + message.data
    if isinstance(message, Stderr):
        return STDERR_HEADER + message.data
    if isinstance(message, Stdin):
        return STDIN_HEADER + message.data
    if isinstance(message, Pid):
        return encode_json({"type": "pid", "pid": message.pid}) + b"\n"
    if isinstance(message, ExitCode):
        obj: dict[str, object] = {
            "type": "exit_code",
            "exit_code": message.exit_code,
            "error": message.error,
        }
        if message.signal is not None:
            obj["signal"] = message.signal
        if message.core_dumped is not None:
            obj["core_dumped"] = message.core_dumped
        return encode_json(obj) + b"\n"
    if isinstance(message, Start):
        return encode_json(
            {"type": "start", "id": message.id, "command": _command_json(message.command)}
        )
    if isinstance(message, CloseStdin):
        return b'{"type":"close_stdin"}\n'
    if isinstance(message, Resize):
        return encode_json({"type": "resize", "rows": message.rows, "cols": message.cols})
    if isinstance(message, Signal):
        return encode_json({"type": "signal", "signal": message.signal}) + b"\n"
    if isinstance(message, Error):
        err: dict[str, object] = {"type": "error", "code": message.code, "message": message.message}
        if message.close_code is not None:
            err["close_code"] = message.close_code
        return encode_json(err) + b"\n"
    if isinstance(message, UnknownMessage):
        return encode_json({**message.header, "type": message.type}) + b"\n"
    raise TypeError(f"not a wsep message: {message!r}")


# --- data messages on the hot path -------------------------------------------


def frame_data(header: bytes, data: Buffer) -> bytes:
    """One data message, ``header`` then ``data``, in one new buffer: the body's one copy.

    For a body that was not read behind its header; a reader that reads straight
    into a buffer that already holds the header needs no framing at all.
    """
    return header + data


class FrameBuffer:
    """One reused buffer for the messages of one data type.

    The header is written once; :meth:`frame` copies each body in behind it
    (its one copy) and returns a view of the message. Once grown to the
    largest body, no message allocates. The view must be released before the
    next :meth:`frame` (a ``bytearray`` with a live view cannot grow), so one
    message is in flight at a time.
    """

    __slots__ = ("_buffer", "_start", "header")

    def __init__(self, header: bytes) -> None:
        self.header = header
        self._start = len(header)
        self._buffer = bytearray(header)

    def frame(self, data: Buffer) -> memoryview:
        """The message ``header + data``, as a view into the buffer; ``data`` is flat bytes."""
        buffer = self._buffer
        start = self._start
        end = start + len(data)
        if len(buffer) < end:
            buffer.extend(bytes(end - len(buffer)))
        buffer[start:end] = data
        return memoryview(buffer)[:end]

    def reset(self) -> None:
        """Let a grown buffer go (no more messages are coming)."""
        self._buffer = bytearray(self.header)


# --- decoding ----------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _check_text(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedMessage(f"{where}: invalid unicode escape") from None
    return value


def _get_str(obj: Mapping[str, object], key: str, where: str, *, nul_ok: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedMessage(f"{where}.{key} must be a string")
    if not nul_ok and "\x00" in value:
        raise MalformedMessage(f"{where}.{key} contains a NUL byte")
    return _check_text(value, f"{where}.{key}")


def _get_bool(obj: Mapping[str, object], key: str, where: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MalformedMessage(f"{where}.{key} must be a boolean")
    return value


def _get_int(obj: Mapping[str, object], key: str, where: str, low: int, high: int) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"{where}.{key} must be an integer")
    if not low <= value <= high:
        raise MalformedMessage(f"{where}.{key} out of range ({low}..{high}): {value}")
    return value


def _get_str_list(obj: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedMessage(f"{where}.{key} must be a list of strings")
    for item in value:
        if "\x00" in item:
            raise MalformedMessage(f"{where}.{key} contains a NUL byte")
        _check_text(item, f"{where}.{key}")
    return tuple(value)


def _parse_command(obj: object) -> Command:
    if not isinstance(obj, dict):
        raise MalformedMessage("start.command must be an object")
    where = "start.command"
    name = _get_str(obj, "command", where, nul_ok=False)
    if not name:
        raise MalformedMessage("start.command.command must not be empty")
    env = _get_str_list(obj, "env", where)
    for entry in env:
        if "=" not in entry or entry.startswith("="):
            raise MalformedMessage(f"start.command.env entry is not KEY=VALUE: {entry[:40]!r}")
    return Command(
        command=name,
        args=_get_str_list(obj, "args", where),
        stdin=_get_bool(obj, "stdin", where),
        tty=_get_bool(obj, "tty", where),
        rows=_get_int(obj, "rows", where, 0, UINT16_MAX),
        cols=_get_int(obj, "cols", where, 0, UINT16_MAX),
        uid=_get_int(obj, "uid", where, 0, UINT32_MAX),
        gid=_get_int(obj, "gid", where, 0, UINT32_MAX),
        env=env,
        working_dir=_get_str(obj, "working_dir", where, nul_ok=False),
    )


def _parse_start(obj: Mapping[str, object], body: memoryview | None) -> Start:
    if body is not None and len(body):
        raise MalformedMessage("start must not have a body")
    if "command" not in obj:
        raise MalformedMessage("start without command")
    return Start(command=_parse_command(obj["command"]), id=_get_str(obj, "id", "start"))


def _parse_resize(obj: Mapping[str, object], body: memoryview | None) -> Resize:
    return Resize(
        rows=_get_int(obj, "rows", "resize", 0, UINT16_MAX),
        cols=_get_int(obj, "cols", "resize", 0, UINT16_MAX),
    )


def _parse_signal(obj: Mapping[str, object], body: memoryview | None) -> Signal:
    name = _get_str(obj, "signal", "signal")
    try:
        signal_number(name)
    except ValueError as exc:
        raise MalformedMessage(f"signal: {exc}") from None
    return Signal(name)


def _parse_pid(obj: Mapping[str, object], body: memoryview | None) -> Pid:
    return Pid(_get_int(obj, "pid", "pid", 0, INT64_MAX))


def _parse_exit_code(obj: Mapping[str, object], body: memoryview | None) -> ExitCode:
    signal = obj.get("signal")
    if signal is not None and not isinstance(signal, str):
        raise MalformedMessage("exit_code.signal must be a string")
    core = obj.get("core_dumped")
    if core is not None and not isinstance(core, bool):
        raise MalformedMessage("exit_code.core_dumped must be a boolean")
    return ExitCode(
        exit_code=_get_int(obj, "exit_code", "exit_code", INT32_MIN, INT32_MAX),
        error=_get_str(obj, "error", "exit_code"),
        signal=None if signal is None else _check_text(signal, "exit_code.signal"),
        core_dumped=core,
    )


def _parse_error(obj: Mapping[str, object], body: memoryview | None) -> Error:
    close_code = obj.get("close_code")
    return Error(
        code=_get_str(obj, "code", "error"),
        message=_get_str(obj, "message", "error"),
        close_code=None if close_code is None else _get_int(obj, "close_code", "error", 1000, 4999),
    )


#: Makes a message from its decoded JSON header and its body.
Parser = Callable[[Mapping[str, object], "memoryview | None"], Message]


def _simple(cls: Callable[[], Message]) -> Parser:
    return lambda obj, body: cls()


def _data(cls: Callable[[Buffer], Message]) -> Parser:
    return lambda obj, body: cls(b"" if body is None else body)


#: Parsers of the built-in types. Extension types are looked up in the
#: registry's table handed to :func:`decode`; other types decode to
#: :class:`UnknownMessage`.
PARSERS: Mapping[str, Parser] = {
    "start": _parse_start,
    "stdin": _data(Stdin),
    "close_stdin": _simple(CloseStdin),
    "resize": _parse_resize,
    "signal": _parse_signal,
    "pid": _parse_pid,
    "stdout": _data(Stdout),
    "stderr": _data(Stderr),
    "exit_code": _parse_exit_code,
    "error": _parse_error,
}

# Prefixes that need no JSON parsing: the data messages, as every peer sends them.
_FAST: tuple[tuple[bytes, Callable[[Buffer], Message]], ...] = (
    (STDOUT_HEADER, Stdout),
    (STDIN_HEADER, Stdin),
    (STDERR_HEADER, Stderr),
)


def _byte_view(data: Buffer) -> memoryview:
    """A flat, contiguous view of unsigned bytes over ``data`` (copied only if it is not)."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    if not view.c_contiguous:
        return memoryview(view.tobytes())
    if view.format != "B" or view.ndim != 1:
        return view.cast("B")
    return view


_NO_EXTENSIONS: Mapping[str, type[ExtensionMessage]] = MappingProxyType({})


def _not_utf8(what: str) -> MalformedMessage:
    return MalformedMessage(f"{what} is not valid UTF-8", close_code=CloseCode.INVALID_PAYLOAD)


def decode(
    data: Buffer | str,
    *,
    max_size: int | None = None,
    max_header_size: int = MAX_HEADER_SIZE,
    extensions: Mapping[str, type[ExtensionMessage]] = _NO_EXTENSIONS,
) -> AnyMessage:
    """Decode one WebSocket message (binary, or text holding the same bytes).

    ``extensions`` are the extension message classes by wire type (a
    :class:`~wsep_protocol.Registry` passes its own); other types that are
    not built in decode to :class:`UnknownMessage`.

    Raises only :class:`MalformedMessage` or :class:`MessageTooBig`.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise _not_utf8("text message") from None
    view = _byte_view(data)
    size = view.nbytes
    if max_size is not None and size > max_size:
        raise MessageTooBig(f"message of {size} bytes exceeds limit of {max_size}")
    for prefix, cls in _FAST:
        if view[: len(prefix)] == prefix:
            return cls(view[len(prefix) :])
    if isinstance(data, memoryview):
        newline = bytes(view[: max_header_size + 1]).find(b"\n")
    else:
        newline = data.find(b"\n", 0, max_header_size + 1)
    if newline < 0:
        if size > max_header_size:
            raise MessageTooBig(f"header longer than {max_header_size} bytes")
        header = bytes(view)
        body: memoryview | None = None
    else:
        header = bytes(view[:newline])
        body = view[newline + 1 :]

    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8("header") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedMessage("header JSON nested too deeply") from None
    except ValueError as exc:
        raise MalformedMessage(f"header is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedMessage("header must be a JSON object")
    kind = obj.get("type")
    if kind is None:
        raise MalformedMessage("header has no type")
    if not isinstance(kind, str):
        raise MalformedMessage("type must be a string")
    parser = PARSERS.get(kind)
    if parser is not None:
        return parser(obj, body)
    extension = extensions.get(kind)
    if extension is not None:
        return extension.parse(obj, body)
    return UnknownMessage(_check_text(kind, "type"), obj)
