"""TLS client certificates (mTLS), with trustme certificates and a real TLS server."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from support.proc import children_of
from support.security import CountingExecer, attempt, start_message


@dataclass
class TLSServer:
    url: str
    execer: CountingExecer
    ca: trustme.CA
    seen: list[Any]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA(organization_name="wsep test CA")


async def _serve(tmp_path: Path, ca: trustme.CA, *, require: bool) -> AsyncIterator[TLSServer]:
    from wsep_server import create_app
    from wsep_server.auth import ClientCertAuthenticator, auth_middleware, server_ssl_context
    from wsep_server.local import LocalExecer
    from wsep_server.policy.decision import StartDecision, StartRequest

    server_cert = ca.issue_cert("127.0.0.1")
    cert = tmp_path / "server.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    client_ca = tmp_path / "client-ca.pem"
    ca.cert_pem.write_to_path(str(client_ca))
    seen: list[Any] = []

    class SeeIdentity:
        async def decide(self, request: StartRequest) -> StartDecision:
            seen.append(request.identity)
            return StartDecision.allow()

    execer = CountingExecer(LocalExecer(grace_period=2.0, output_linger=0.5))
    app = create_app(
        execer=execer,
        policy=SeeIdentity(),
        log_connections=False,
        middlewares=[auth_middleware([ClientCertAuthenticator()])],
    )
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    ctx = server_ssl_context(cert, client_ca=client_ca, require_client_cert=require)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        yield TLSServer(f"wss://127.0.0.1:{runner.addresses[0][1]}/", execer, ca, seen)
    finally:
        await runner.cleanup()


@pytest.fixture
async def tls_server(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[TLSServer]:
    async for server in _serve(tmp_path, ca, require=False):
        yield server


@pytest.fixture
async def strict_tls_server(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[TLSServer]:
    async for server in _serve(tmp_path, ca, require=True):
        yield server


def _client_ctx(ca: trustme.CA, client: trustme.LeafCert | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if client is not None:
        client.configure_cert(ctx)
    return ctx


START = start_message("/usr/bin/echo", "over mtls")


async def test_mtls_accepted_subject_is_identity(tls_server: TLSServer) -> None:
    client = tls_server.ca.issue_cert(
        "alice@example.org", common_name="alice", organization_name="Example"
    )
    out = await attempt(tls_server.url, START, ssl_context=_client_ctx(tls_server.ca, client))
    assert out.stdout == b"over mtls\n", out
    (identity,) = tls_server.seen
    assert identity.name == "alice"
    assert identity.attributes["auth"] == "mtls"
    assert "CN=alice" in identity.attributes["subject"]
    assert "O=Example" in identity.attributes["subject"]
    assert "wsep test CA" in identity.attributes["issuer"]


async def _refused_at_tls(server: TLSServer, ctx: ssl.SSLContext) -> None:
    before = set(children_of())
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await attempt(server.url, START, ssl_context=ctx)
    assert server.execer.started == []
    assert not set(children_of()) - before


async def test_mtls_untrusted_ca_rejected(tls_server: TLSServer) -> None:
    other = trustme.CA(organization_name="not trusted")
    client = other.issue_cert("mallory@example.org", common_name="alice")
    await _refused_at_tls(tls_server, _client_ctx(tls_server.ca, client))
    assert tls_server.seen == []


async def test_mtls_expired_certificate_rejected(tls_server: TLSServer) -> None:
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    client = tls_server.ca.issue_cert(
        "alice@example.org",
        common_name="alice",
        not_before=past - datetime.timedelta(days=1),
        not_after=past,
    )
    await _refused_at_tls(tls_server, _client_ctx(tls_server.ca, client))


async def test_mtls_no_certificate_gets_401(tls_server: TLSServer) -> None:
    out = await attempt(tls_server.url, START, ssl_context=_client_ctx(tls_server.ca, None))
    assert out.status == 401
    assert "authentication required" in out.reason
    assert tls_server.execer.started == []


async def test_mtls_required_no_certificate_fails_handshake(strict_tls_server: TLSServer) -> None:
    await _refused_at_tls(strict_tls_server, _client_ctx(strict_tls_server.ca, None))
