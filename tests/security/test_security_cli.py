"""The real ``wsep-server`` with its security flags, as a subprocess; safe defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.security import TOKENS, attempt, auth, start_message, wait_for

TOKEN = TOKENS["alice"]


def _run_server(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsep_server", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_refuses_non_loopback_without_auth() -> None:
    done = _run_server("--host", "0.0.0.0")
    assert done.returncode == 1
    assert "refusing to listen" in done.stderr
    assert "--insecure-no-auth" in done.stderr
    assert "serving" not in done.stdout


def test_listen_safety_rules() -> None:
    from wsep_server.security import SecurityOptions, check_listen_safety, is_loopback

    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("::")
    assert not is_loopback("example.org")
    opts = SecurityOptions()
    check_listen_safety(opts, host="127.0.0.1", unix_socket=None, authenticated=False)
    check_listen_safety(opts, host="0.0.0.0", unix_socket=None, authenticated=True)
    check_listen_safety(opts, host="", unix_socket="/run/wsep.sock", authenticated=False)
    insecure = SecurityOptions(insecure_no_auth=True)
    check_listen_safety(insecure, host="0.0.0.0", unix_socket=None, authenticated=False)
    with pytest.raises(ValueError, match="refusing"):
        check_listen_safety(opts, host="0.0.0.0", unix_socket=None, authenticated=False)


def test_bad_security_options_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "tokens"
    bad.write_text("alice plain-token-not-a-hash\n")
    done = _run_server("--token-file", str(bad))
    assert done.returncode != 0
    assert "tokens:1" in done.stderr
    assert "plain-token-not-a-hash" not in done.stderr
    policy = tmp_path / "policy.toml"
    policy.write_text("[default]\ncommand = ['/bin/true']\n")
    done = _run_server("--policy", str(policy))
    assert done.returncode != 0
    assert "unknown key(s): command" in done.stderr


def test_unknown_token_location(capsys: pytest.CaptureFixture[str]) -> None:
    from wsep_server.cli import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--token-locations", "header,cookie"])
    assert "unknown place 'cookie'" in capsys.readouterr().err


async def test_server_process_with_token_policy_and_audit(
    start_server_process: Callable[..., Any], layout: Any, tmp_path: Path
) -> None:
    from wsep_server.auth import hash_token

    token_file = tmp_path / "tokens"
    token_file.write_text(f"# team tokens\nalice {hash_token(TOKEN)}\n")
    audit = tmp_path / "audit.jsonl"
    srv = start_server_process(
        "--token-file", str(token_file),
        "--policy", str(layout.policy),
        "--audit-log", str(audit),
        "--record-dir", str(layout.record_dir),
        env={"WSEP_TOKEN": "env-token-0123456789abcdef"},
    )  # fmt: skip
    # health checks need no token
    with urllib.request.urlopen(srv.http_url + "/healthz", timeout=10) as r:
        assert r.status == 200
    work = str(layout.work)
    out = await attempt(srv.url, start_message("/usr/bin/echo", "hi", working_dir=work))
    assert out.status == 401
    out = await attempt(srv.url, start_message("/usr/bin/echo", "hi", working_dir=work),
                        params={"token": TOKEN})  # fmt: skip
    assert out.stdout == b"hi\n", out
    # the session's end line is written once its processes are all gone
    await wait_for(lambda: audit.exists() and len(audit.read_text().splitlines()) >= 2)
    # the WSEP_TOKEN environment variable is a second, unnamed credential ("token")
    out = await attempt(srv.url, start_message("/usr/bin/id", working_dir=work),
                        headers=auth("env-token-0123456789abcdef"))  # fmt: skip
    assert out.close_code == 1008
    assert "/usr/bin/id" in out.close_reason
    assert srv.stop() == 0
    log = srv.output()
    assert TOKEN not in log
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [(x["event"], x["identity"]) for x in lines] == [
        ("start", "alice"),
        ("end", "alice"),
        ("end", "token"),
    ]
    assert TOKEN not in audit.read_text()


def test_build_security_from_flags(tmp_path: Path, layout: Any) -> None:
    import ssl

    import trustme
    from wsep_server.audit import AuditLog
    from wsep_server.auth import (
        BasicAuthenticator,
        ClientCertAuthenticator,
        JWTAuthenticator,
        StaticTokenAuthenticator,
        TrustedProxyAuthenticator,
        hash_password,
        hash_token,
    )
    from wsep_server.cli import parse_args
    from wsep_server.local import LocalExecer
    from wsep_server.policy import FilePolicy
    from wsep_server.recording import RecordingExecer
    from wsep_server.security import build_security, tls_context

    (tmp_path / "tokens").write_text(f"alice {hash_token(TOKEN)}\n")
    (tmp_path / "jwt.key").write_text("k" * 40 + "\n")
    (tmp_path / "users").write_text(f"bob:{hash_password('pw', rounds=4)}\n")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    leaf = ca.issue_cert("127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    opts = parse_args([
        "--host", "0.0.0.0",
        "--token-file", str(tmp_path / "tokens"),
        "--jwt-key", str(tmp_path / "jwt.key"), "--jwt-algorithms", "HS256,HS512",
        "--basic-auth-file", str(tmp_path / "users"),
        "--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.pem"),
        "--tls-client-ca", str(tmp_path / "ca.pem"), "--tls-require-client-cert",
        "--trusted-proxy", "127.0.0.1,10.0.0.0/8",
        "--allow-origin", "https://app.example",
        "--policy", str(layout.policy),
        "--audit-log", str(tmp_path / "audit.jsonl"),
        "--record-dir", str(tmp_path / "casts"),
    ])  # fmt: skip
    assert opts.security.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    assert opts.security.jwt_algorithms == ("HS256", "HS512")
    execer = LocalExecer()
    sec = build_security(opts.security, execer, host=opts.host)
    kinds = [type(a) for a in sec.authenticators]
    assert kinds == [
        ClientCertAuthenticator,
        TrustedProxyAuthenticator,
        JWTAuthenticator,
        StaticTokenAuthenticator,
        BasicAuthenticator,
    ]
    assert len(sec.middlewares) == 4  # host, origin, authentication, session counting
    assert isinstance(sec.policy, FilePolicy)
    assert isinstance(sec.execer, RecordingExecer)
    assert [type(o) for o in sec.observers] == [AuditLog]
    assert len(sec.on_startup) == len(sec.on_cleanup) == 1
    ctx = tls_context(opts.security, opts.tls_cert, opts.tls_key)
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="needs --tls-cert"):
        tls_context(opts.security, None, None)


def test_recording_policy_needs_a_directory(layout: Any) -> None:
    from wsep_server.cli import parse_args
    from wsep_server.local import LocalExecer
    from wsep_server.security import build_security

    opts = parse_args(["--policy", str(layout.policy)])
    with pytest.raises(ValueError, match="--record-dir"):
        build_security(opts.security, LocalExecer())
