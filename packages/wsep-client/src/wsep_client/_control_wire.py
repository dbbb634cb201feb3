"""The control socket: where it lives, who may use it, and how messages are framed.

Imported by the thin client on every ``wsep run`` through a control master,
so it uses only modules the interpreter has loaded anyway or that load in
well under a millisecond (no asyncio, no typing, no dataclasses).

A message is a 4-byte big-endian length and a JSON object; the first one a
client sends carries its stdin, stdout and stderr as ``SCM_RIGHTS``.
"""

from __future__ import annotations

# ``_socket``, not ``socket``: its enum wrappers cost ~10 ms per start-up.
import _socket
import array
import json
import os
import stat
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "UnsafeDirectory",
    "master_key",
    "private_dir",
    "receive",
    "send",
    "socket_path",
]

try:  # the built-in module: hashlib would load OpenSSL (~2 ms) on every call
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python < 3.12
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from hashlib import sha256 as _sha256

_LENGTH = struct.Struct("!I")
#: No message is near this; a larger length means the peer is not one of ours.
MAX_MESSAGE = 1 << 20


class UnsafeDirectory(Exception):
    """The control directory exists but others could reach into it."""


def control_dir() -> str:
    """``$WSEP_CONTROL_DIR``, else ``$XDG_RUNTIME_DIR/wsep``, else ``/tmp/wsep-UID``."""
    configured = os.environ.get("WSEP_CONTROL_DIR")
    if configured:
        return configured
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "wsep")
    return f"/tmp/wsep-{os.getuid()}"


def private_dir() -> str:
    """The control directory, created 0700; refused unless only this user can enter it."""
    path = control_dir()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UnsafeDirectory(
            f"{path}: not a private directory of this user (a directory, owned by uid "
            f"{os.getuid()}, mode 0700); not using a control master"
        )
    return path


def master_key(url: str, token: str | None, cacert: str | None, insecure: bool, v1: bool) -> str:
    """One master per server and credentials: a different token never shares one."""
    what = json.dumps(
        [url, token or "", os.path.abspath(cacert) if cacert else "", insecure, v1]
    ).encode()
    return str(_sha256(what).hexdigest())[:24]


def socket_path(url: str, token: str | None, cacert: str | None, insecure: bool, v1: bool) -> str:
    return os.path.join(private_dir(), master_key(url, token, cacert, insecure, v1) + ".sock")


def send(sock: _socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    """Send one message (blocking), with ``fds`` attached to its first byte."""
    frame = encode(message)
    if fds:
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = sock.sendmsg([frame], rights)
        frame = frame[sent:]
    if frame:
        sock.sendall(frame)


def encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message).encode()
    return _LENGTH.pack(len(data)) + data


class Decoder:
    """Splits a byte stream into messages."""

    def __init__(self) -> None:
        self._buffer = b""
        self._ready: list[dict[str, Any]] = []

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_MESSAGE:
                raise ValueError(f"control message of {length} bytes")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            message = json.loads(self._buffer[_LENGTH.size : end])
            if not isinstance(message, dict):
                raise ValueError("control message is not an object")
            self._ready.append(message)
            self._buffer = self._buffer[end:]

    def next(self) -> dict[str, Any] | None:
        """The oldest complete message not yet taken, or None."""
        return self._ready.pop(0) if self._ready else None


def receive(sock: _socket.socket, decoder: Decoder) -> dict[str, Any] | None:
    """The next message (blocking); None at end of stream."""
    while True:
        message = decoder.next()
        if message is not None:
            return message
        data = sock.recv(65536)
        if not data:
            return None
        decoder.feed(data)


def peer_uid(sock: _socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (``SO_PEERCRED``)."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)
