"""wss:// with a real TLS server (trustme): verified, refused when untrusted."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
import wsep_client
from wsep_client import ConnectError

pytestmark = pytest.mark.usefixtures("no_leaked_children")


@pytest.fixture
async def tls_server() -> AsyncIterator[tuple[str, trustme.CA]]:
    from aiohttp import web
    from wsep_server import create_app
    from wsep_server.local import LocalExecer

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    app = create_app(execer=LocalExecer(grace_period=2.0, output_linger=0.5), log_connections=False)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    yield f"wss://127.0.0.1:{runner.addresses[0][1]}/", ca
    await runner.cleanup()


async def test_wss_with_a_trusted_ca(tls_server) -> None:
    url, ca = tls_server
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with wsep_client.connect(url, ssl=client_ctx) as remote:
        result = await remote.run("sh", "-c", "head -c 300000 /dev/zero | wc -c", check=True)
    assert result.stdout.strip() == b"300000"


async def test_wss_untrusted_certificate_is_a_connect_error(tls_server) -> None:
    url, _ = tls_server
    with pytest.raises(ConnectError, match="certificate"):
        async with wsep_client.connect(url):
            pass
    async with wsep_client.connect(url, check=False) as remote:
        with pytest.raises(wsep_client.CertificateError) as info:
            await remote.run("true")
    assert "--cacert" in str(info.value)
    assert "--insecure" in str(info.value)


async def test_cli_says_how_to_trust_a_self_signed_certificate(tls_server, tmp_path) -> None:
    from support.cli import one_line, wsep

    url, ca = tls_server
    code, _, err = await wsep("run", "--url", url, "--", "true")
    assert code == 255
    line = one_line(err)
    assert "--cacert FILE" in line
    assert "--insecure" in line
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    assert (await wsep("run", "--url", url, "--cacert", str(pem), "--", "true"))[0] == 0
    assert (await wsep("run", "--url", url, "--insecure", "--", "true"))[0] == 0


async def test_certificate_error_names_openssls_verification_reason(tls_server) -> None:
    """The reason is OpenSSL's verification message, not the whole exception text."""
    url, _ = tls_server
    with pytest.raises(wsep_client.CertificateError) as info:
        async with wsep_client.connect(url):
            pass
    reason = str(info.value).split(" rejected: ", 1)[1].split(";", 1)[0]
    assert reason == "unable to get local issuer certificate"
