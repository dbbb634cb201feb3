"""The client's address behind a proxy: believed from --forwarded-from only, never spoofable.

Loopback is all of 127.0.0.0/8, so a client can connect from 127.0.0.7 and a
"proxy" from 127.0.0.5: different peers without leaving the machine.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import wsep_client
from support.nginx import NGINX, nginx_in_front
from support.ops import TOKEN_A, Server, wait_until
from wsep_server.auth import hash_token
from wsep_server.client_address import forwarded_address

PROXY, CLIENT = "127.0.0.5", "127.0.0.7"


def _audit_peers(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["peer"] for line in path.read_text().splitlines() if line.strip()]


async def _run_from(url: str, source: str, headers: dict[str, str], **kw: Any) -> bytes:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        wsep_client.connect(url, http_session=http, headers=headers, **kw) as remote,
    ):
        return (await remote.run("echo", "hi", timeout=60)).stdout


def _refused_upgrade(port: int, source: str, claimed: str) -> bytes:
    """A raw upgrade request from ``source`` claiming to forward for ``claimed``."""
    with socket.socket() as raw:
        raw.bind((source, 0))
        raw.settimeout(30)
        raw.connect(("127.0.0.1", port))
        raw.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"X-Forwarded-For: " + claimed.encode() + b"\r\n\r\n"
        )
        return raw.recv(4096)


async def test_the_forwarded_address_is_believed_from_the_proxy_only(
    tmp_path: Path, run_server: Callable[..., Server]
) -> None:
    audit, tokens = tmp_path / "audit.jsonl", tmp_path / "tokens"
    tokens.write_text(f"alice {hash_token(TOKEN_A)}\n")
    srv = run_server(
        "--port", "0", "--forwarded-from", PROXY, "--audit-log", str(audit),
        "--token-file", str(tokens),
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {TOKEN_A}"}

    # A client spoofing the header: ignored, its own address is logged.
    spoof = {**auth, "X-Forwarded-For": "203.0.113.66"}
    assert await _run_from(srv.url, CLIENT, spoof) == b"hi\n"
    peers = wait_until(lambda: _audit_peers(audit)[1:], "the audit's end line")
    assert all(p.startswith(f"{CLIENT}:") for p in peers), peers
    assert "203.0.113.66" not in audit.read_text()

    # The trusted proxy appended the address it saw; the entry before it is the
    # client's own claim, never believed.
    proxied = {**auth, "X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    assert await _run_from(srv.url, PROXY, proxied) == b"hi\n"
    peers = wait_until(lambda: _audit_peers(audit)[3:], "the second session's end line")
    assert set(_audit_peers(audit)[2:]) == {"198.51.100.7"}
    assert "6.6.6.6" not in audit.read_text()

    # Refusals are logged under the same address.
    port = int(srv.http_url.rsplit(":", 1)[1])
    assert _refused_upgrade(port, CLIENT, "203.0.113.1").startswith(b"HTTP/1.1 401")
    assert _refused_upgrade(port, PROXY, "198.51.100.9").startswith(b"HTTP/1.1 401")
    log = srv.wait_log("refused / from", count=2)
    assert f"refused / from {CLIENT}: authentication required" in log
    assert "203.0.113.1" not in log
    assert "refused / from 198.51.100.9: authentication required" in log


def test_forwarded_header_parsing() -> None:
    assert forwarded_address("1.1.1.1, 2.2.2.2", "X-Forwarded-For") == "2.2.2.2"
    assert forwarded_address(" ::1 ", "X-Real-IP") == "::1"
    assert forwarded_address("unknown", "X-Forwarded-For") is None
    assert forwarded_address("1.1.1.1, 2.2.2.2", "X-Real-IP") is None


# --- a real nginx from deploy/nginx/wsep.conf in front --------------------------------


@pytest.fixture
def nginx_front(
    tmp_path: Path, run_server: Callable[..., Server]
) -> Iterator[tuple[str, Any, Path]]:
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx-light; .ci/run installs it)")
    audit = tmp_path / "audit.jsonl"
    srv = run_server("--port", "0", "--forwarded-from", "127.0.0.1", "--audit-log", str(audit))
    with nginx_in_front(tmp_path, int(srv.http_url.rsplit(":", 1)[1])) as front:
        yield front.url, front.ctx, audit


@pytest.mark.nginx
@pytest.mark.once
async def test_behind_nginx_the_audit_names_the_client(
    nginx_front: tuple[str, Any, Path],
) -> None:
    url, ctx, audit = nginx_front
    # The client's own X-Forwarded-For claim is kept by nginx but not believed.
    got = await _run_from(url, CLIENT, {"X-Forwarded-For": "6.6.6.6"}, ssl=ctx)
    assert got == b"hi\n"
    peers = wait_until(lambda: _audit_peers(audit)[1:], "the audit's end line")
    assert set(peers) == {CLIENT}
