"""SIGHUP against a real server: files re-read, nobody dropped, broken files refused."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
import wsep_client
from support.ops import TOKEN_A, TOKEN_B, Server, wait_until
from wsep_server.auth import hash_token

# Root (as in CI's container) runs commands only where the policy grants uid 0.
_ROOT = "uids = [0]\n" if os.geteuid() == 0 else ""
POLICY_WIDE = f'[default]\ncommands = ["/usr/bin/*", "/bin/*"]\n{_ROOT}'
POLICY_NARROW = (
    f'[default]\ncommands = ["/usr/bin/cat", "/bin/cat", "/usr/bin/echo", "/bin/echo"]\n{_ROOT}'
)


def _write_pair(ca: trustme.CA, cert: Path, key: Path) -> bytes:
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def _served_cert(port: int) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    with ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


async def _echo(url: str, token: str, ctx: ssl.SSLContext) -> bytes:
    async with wsep_client.connect(url, token=token, ssl=ctx) as remote:
        result = await remote.run("echo", "ok", timeout=60)
        return result.stdout


async def test_sighup_reloads_tokens_policy_and_certificate_without_dropping_a_session(
    tmp_path: Path, run_server: Callable[..., Server]
) -> None:
    tokens, policy = tmp_path / "tokens", tmp_path / "policy.toml"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    tokens.write_text(f"alice {hash_token(TOKEN_A)}\n")
    policy.write_text(POLICY_WIDE)
    ca = trustme.CA()
    first_der = _write_pair(ca, cert, key)
    srv = run_server(
        "--port", "0", "--token-file", str(tokens), "--policy", str(policy),
        "--tls-cert", str(cert), "--tls-key", str(key),
    )  # fmt: skip
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    port = int(srv.http_url.rsplit(":", 1)[1])
    assert await asyncio.to_thread(_served_cert, port) == first_der

    async with wsep_client.connect(srv.url, token=TOKEN_A, ssl=ctx) as remote:
        running = await remote.create_process("cat")
        running.stdin.write(b"before\n")
        assert await asyncio.wait_for(running.stdout.readline(), 60) == b"before\n"

        # New files: another token, a narrower policy, another certificate.
        tokens.write_text(f"bob {hash_token(TOKEN_B)}\n")
        policy.write_text(POLICY_NARROW)
        second_der = _write_pair(ca, cert, key)
        srv.signal(signal.SIGHUP)
        srv.wait_log("configuration reloaded")

        running.stdin.write(b"after\n")  # the running session goes on
        assert await asyncio.wait_for(running.stdout.readline(), 60) == b"after\n"
        running.stdin.close()
        await asyncio.wait_for(running.wait(), 60)
        assert running.returncode == 0

    assert await asyncio.to_thread(_served_cert, port) == second_der
    assert await _echo(srv.url, TOKEN_B, ctx) == b"ok\n"
    with pytest.raises(wsep_client.AuthenticationError):
        await _echo(srv.url, TOKEN_A, ctx)
    async with wsep_client.connect(srv.url, token=TOKEN_B, ssl=ctx) as remote:
        with pytest.raises(wsep_client.StartFailed, match="not allowed: command"):
            await remote.run("true", timeout=60)

    # Broken files: refused with a log line, the previous configuration stays.
    tokens.write_text("bob not-a-hash\n")
    policy.write_text("[default\n")
    cert.write_text(key.read_text())
    srv.signal(signal.SIGHUP)
    log = srv.wait_log("reload refused")
    assert "previous configuration stays" in log
    assert await _echo(srv.url, TOKEN_B, ctx) == b"ok\n"
    with pytest.raises(wsep_client.AuthenticationError):
        await _echo(srv.url, TOKEN_A, ctx)
    assert await asyncio.to_thread(_served_cert, port) == second_der
    async with wsep_client.connect(srv.url, token=TOKEN_B, ssl=ctx) as remote:
        with pytest.raises(wsep_client.StartFailed, match="not allowed: command"):
            await remote.run("true", timeout=60)  # the narrow policy is still in force
    # Mending one file is not enough while the others are still broken.
    tokens.write_text(f"bob {hash_token(TOKEN_B)}\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reload refused", count=2)
    assert srv.proc.poll() is None


async def test_sighup_without_audit_log_keeps_serving(
    tmp_path: Path, run_server: Callable[..., Server]
) -> None:
    """It used to end the server (the default action of SIGHUP) unless --audit-log was set."""
    srv = run_server("--port", "0")
    srv.signal(signal.SIGHUP)
    srv.wait_log("configuration reloaded")
    assert srv.proc.poll() is None
    async with wsep_client.connect(srv.url) as remote:
        result = await remote.run("echo", "still here", timeout=60)
    assert result.stdout == b"still here\n"


@pytest.mark.once
async def test_sighup_reopens_the_audit_log_and_reloads(
    tmp_path: Path, run_server: Callable[..., Server]
) -> None:
    audit = tmp_path / "audit.jsonl"
    srv = run_server("--port", "0", "--audit-log", str(audit))
    async with wsep_client.connect(srv.url) as remote:
        await remote.run("true", timeout=60)
    wait_until(lambda: audit.exists() and audit.read_text().count("\n") >= 2, "audit lines")
    audit.rename(tmp_path / "audit.jsonl.1")
    srv.signal(signal.SIGHUP)
    srv.wait_log("configuration reloaded")
    async with wsep_client.connect(srv.url) as remote:
        await remote.run("true", timeout=60)
    wait_until(lambda: audit.exists() and audit.read_text().count("\n") >= 2, "a new audit file")
