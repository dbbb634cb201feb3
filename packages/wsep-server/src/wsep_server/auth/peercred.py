"""Identity from a Unix socket's peer credentials (``SO_PEERCRED``): local users, no tokens.

The kernel says which user is at the other end of a Unix socket connection,
so nothing can be forged or leaked. Who may connect at all is the socket
file's permissions (``--unix-socket``); a policy file then decides per user.
The identity's name is the user name (the uid when it has none), its ``auth``
attribute ``unix``; ``uid``, ``gid`` and ``pid`` are attributes too.
"""

from __future__ import annotations

import pwd
import socket
import struct
from typing import TYPE_CHECKING

from ..hooks import Identity
from .base import make_identity

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["PeerCredAuthenticator", "peer_credentials"]

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_credentials(request: web.Request) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end of a Unix socket, else None."""
    transport = request.transport
    if transport is None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


class PeerCredAuthenticator:
    """The local user connected over a Unix socket; no credential of its kind on TCP."""

    scheme = ""

    async def authenticate(self, request: web.Request) -> Identity | None:
        creds = peer_credentials(request)
        if creds is None:
            return None
        pid, uid, gid = creds
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return make_identity(name, auth="unix", uid=str(uid), gid=str(gid), pid=str(pid))
