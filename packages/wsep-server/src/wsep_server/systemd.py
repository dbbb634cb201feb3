"""systemd's service protocols, implemented directly (no libsystemd).

- ``sd_notify``: datagrams like ``READY=1`` to the ``AF_UNIX`` socket in
  ``NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace).
- Watchdog: ``WATCHDOG=1`` every half ``WATCHDOG_USEC`` when
  ``WATCHDOG_PID`` is unset or this process; sent from the event loop, so a
  stuck loop stops the pings and systemd restarts the service.
- Socket activation (``sd_listen_fds``): ``LISTEN_FDS`` sockets from fd 3
  when ``LISTEN_PID`` is this process; the variables are removed so that
  the commands the server starts do not see them.

Without systemd (no variables) every function here does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import MutableMapping

__all__ = [
    "LISTEN_FDS_START",
    "listen_sockets",
    "notify",
    "notify_reloading",
    "take_environment",
    "watchdog_interval",
    "watchdog_pinger",
]

_log = logging.getLogger("wsep_server.systemd")

#: The first passed file descriptor (``SD_LISTEN_FDS_START``).
LISTEN_FDS_START = 3

_NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
#: The variables :func:`take_environment` moved out of ``os.environ``.
_taken: dict[str, str] = {}


def take_environment() -> None:
    """Move the notify and watchdog variables out of ``os.environ``.

    The server keeps using them; the commands it starts do not inherit them,
    so they cannot speak to systemd in the server's name.
    """
    for name in _NOTIFY_VARIABLES:
        value = os.environ.pop(name, None)
        if value is not None:
            _taken[name] = value


def _environment(environ: MutableMapping[str, str] | None) -> MutableMapping[str, str]:
    if environ is not None:
        return environ
    return {**os.environ, **_taken} if _taken else os.environ


def notify(*fields: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) to ``NOTIFY_SOCKET``.

    Returns whether a datagram was sent; failures are logged, never raised:
    the service runs the same without a supervisor listening.
    """
    env = _environment(environ)
    address = env.get("NOTIFY_SOCKET", "")
    if not address or not fields:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        _log.warning("NOTIFY_SOCKET %r is neither a path nor @abstract: ignored", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError as exc:
        _log.warning("sd_notify to %s failed: %s", env.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def notify_reloading() -> bool:
    """``RELOADING=1`` with the ``MONOTONIC_USEC`` that ``Type=notify-reload`` wants."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def watchdog_interval(environ: MutableMapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half the timeout), or None when not asked for."""
    env = _environment(environ)
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2_000_000


async def watchdog_pinger(interval: float) -> None:
    """Ping the watchdog every ``interval`` seconds until cancelled."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def listen_sockets(environ: MutableMapping[str, str] | None = None) -> list[socket.socket]:
    """The sockets systemd passed (``sd_listen_fds(1)``), or none.

    Only a ``LISTEN_PID`` equal to this process counts: the variables may have
    been inherited from a parent they were meant for.
    """
    env = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)
    if not pid or not count or pid != str(os.getpid()):
        return []
    try:
        n = int(count)
    except ValueError:
        raise ValueError(f"LISTEN_FDS={count!r}: not a number") from None
    sockets: list[socket.socket] = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + n):
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        if sock.type != socket.SOCK_STREAM:
            with contextlib.suppress(OSError):
                sock.detach()
            raise ValueError(f"socket activation: fd {fd} is not a stream socket")
        sock.setblocking(False)
        sockets.append(sock)
    return sockets
