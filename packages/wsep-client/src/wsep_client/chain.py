"""An execer factory for chaining servers.

``wsep-server --execer wsep_client.chain:upstream_execer`` makes a server that
runs every command on the upstream server named by ``WSEP_UPSTREAM_URL``
(token from ``WSEP_UPSTREAM_TOKEN``, ``WSEP_UPSTREAM_V1=1`` for protocol v1),
through a :class:`RemoteExecer`: the two satisfy the same ``Execer`` protocol.
"""

from __future__ import annotations

import os

from wsep_protocol import ProtocolVersion

from .execer import RemoteExecer

__all__ = ["upstream_execer"]


def upstream_execer(url: str | None = None, token: str | None = None) -> RemoteExecer:
    """A RemoteExecer for the upstream server; each process owns its connection."""
    url = url or os.environ.get("WSEP_UPSTREAM_URL")
    if not url:
        raise ValueError("upstream_execer needs a URL (set WSEP_UPSTREAM_URL)")
    token = token or os.environ.get("WSEP_UPSTREAM_TOKEN") or None
    version = (
        ProtocolVersion.V1 if os.environ.get("WSEP_UPSTREAM_V1") == "1" else ProtocolVersion.V2
    )
    return RemoteExecer(url, token=token, version=version, share_http_session=False)
