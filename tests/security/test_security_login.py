"""Logins an attacker shapes: Basic floods and long passwords, JWT lifetimes, default tokens."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from support import REPO
from support.cli import cli_env
from support.security import JWT_SECRET, attempt, make_jwt, start_message
from support.wire import port_of

PASSWORD = "correct horse battery staple"


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    from wsep_server.auth import hash_password

    path = tmp_path / "users"
    path.write_text(f"bob:{hash_password(PASSWORD, rounds=10)}\n")
    return path


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_basic_password_over_72_bytes_is_a_failed_login(
    no_leaked_children: None, start_server_process: Callable[..., Any], users_file: Path
) -> None:
    srv = start_server_process("--basic-auth-file", str(users_file))
    for password in ("x" * 73, PASSWORD + "y" * 100, "é" * 40):
        out = await attempt(srv.url, start_message("true"), headers=_basic("bob", password))
        assert out.status == 401, (password, out)
        assert "invalid user or password" in out.reason
    ok = await attempt(srv.url, start_message("echo", "in"), headers=_basic("bob", PASSWORD))
    assert ok.stdout == b"in\n"
    srv.stop()
    assert "Traceback" not in srv.output()


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_basic_flood_is_bounded_and_a_real_login_gets_through(
    no_leaked_children: None, start_server_process: Callable[..., Any], users_file: Path
) -> None:
    """64 connections of garbage Basic from one address: they get 401 then 429 with
    Retry-After, never more than two hashing threads; bob, from another address,
    logs in and runs a command while the flood goes on."""
    srv = start_server_process("--basic-auth-file", str(users_file))
    port = port_of(srv.url)
    threads_before = _threads(srv.proc.pid)
    statuses: list[int] = []
    retry_after: list[str | None] = []
    answered = asyncio.Event()

    async def flood(rounds: int) -> None:
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0), force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(rounds):
                garbage = _basic(secrets.token_hex(6), secrets.token_hex(12))
                async with http.get(f"http://127.0.0.1:{port}/", headers=garbage) as resp:
                    statuses.append(resp.status)
                    retry_after.append(resp.headers.get("Retry-After"))
                    answered.set()

    flooders = [asyncio.create_task(flood(4)) for _ in range(64)]
    try:
        await asyncio.wait_for(answered.wait(), 60)
        real = await attempt(srv.url, start_message("echo", "bob"), headers=_basic("bob", PASSWORD))
        assert real.stdout == b"bob\n", real
        await asyncio.wait_for(asyncio.gather(*flooders), 120)
    finally:
        for task in flooders:
            task.cancel()
    assert len(statuses) == 64 * 4
    assert set(statuses) <= {401, 429}, sorted(set(statuses))
    assert statuses.count(429) > statuses.count(401)  # most never cost a hash
    waits = [r for s, r in zip(statuses, retry_after, strict=True) if s == 429]
    assert all(r is not None and int(r) >= 1 for r in waits)
    assert _threads(srv.proc.pid) <= threads_before + 2  # the hashing pool, nothing more


@pytest.fixture
def jwt_key(tmp_path: Path) -> Path:
    path = tmp_path / "jwt.key"
    path.write_text(JWT_SECRET)
    return path


async def test_jwt_lifetime_is_bounded_and_exp_must_be_a_number(
    no_leaked_children: None, start_server_process: Callable[..., Any], jwt_key: Path
) -> None:
    srv = start_server_process("--jwt-key", str(jwt_key), "--jwt-max-lifetime", "3600")
    now = int(time.time())
    refused = {
        "ten days": make_jwt(ttl=10 * 86400),
        "no iat, far exp": jwt.encode({"sub": "alice", "exp": now + 10 * 86400}, JWT_SECRET),
        "exp as text": jwt.encode({"sub": "alice", "exp": str(now + 300)}, JWT_SECRET),
        "iat as text": jwt.encode({"sub": "alice", "exp": now + 300, "iat": str(now)}, JWT_SECRET),
    }
    for what, token in refused.items():
        out = await attempt(
            srv.url, start_message("true"), headers={"Authorization": f"Bearer {token}"}
        )
        assert out.status == 401, what
        assert "lifetime too long" in out.reason or "not a number" in out.reason, (what, out)
    ok = await attempt(
        srv.url,
        start_message("echo", "fine"),
        headers={"Authorization": f"Bearer {make_jwt(ttl=600)}"},
    )
    assert ok.stdout == b"fine\n"


def test_jwt_default_lifetime_is_a_day() -> None:
    from wsep_server.cli import parse_args

    assert parse_args([]).security.jwt_max_lifetime == 86400
    assert parse_args(["--jwt-max-lifetime", "0"]).security.jwt_max_lifetime is None


async def _prints_hello(argv: list[str], **kwargs: Any) -> None:
    """The command line the server printed runs ``echo hello`` through it."""
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, env=cli_env(), **kwargs
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_loopback_server_makes_a_token_and_prints_a_working_command(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process(env={"WSEP_INSECURE_NO_AUTH": ""})
    assert srv.proc.stdout is not None
    banner = [srv.proc.stdout.readline().decode() for _ in range(3)]
    command = next(line for line in banner if "run a command:" in line)
    argv = shlex.split(command.split("run a command:", 1)[1])
    token = next(a for a in argv if a.startswith("--token="))[len("--token=") :]
    assert len(token) >= 43
    # Any local process without the token: refused before anything runs.
    out = await attempt(srv.url, start_message("id"))
    assert out.status == 401
    out = await attempt(srv.url, start_message("id"), params={"token": "wrong" * 8})
    assert out.status == 401
    await _prints_hello(argv, cwd=REPO)


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_a_token_starting_with_a_dash_works_as_printed(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    from wsep_server.__main__ import _banner
    from wsep_server.cli import parse_args

    token = "-dash-token-0123456789abcdef"
    srv = start_server_process(env={"WSEP_TOKEN": token})
    text = _banner(parse_args(["--port", str(port_of(srv.url))]), [], token)
    command = next(line for line in text.splitlines() if "run a command:" in line)
    argv = shlex.split(command.split("run a command:", 1)[1])
    assert f"--token={token}" in argv
    argv[0] = os.path.join(os.path.dirname(sys.executable), "wsep")
    await _prints_hello(argv)


def test_no_token_is_made_with_insecure_no_auth_or_beyond_loopback() -> None:
    from wsep_server.local import LocalExecer
    from wsep_server.security import SecurityOptions, build_security

    sec = build_security(SecurityOptions(insecure_no_auth=True), LocalExecer())
    assert not sec.authenticators
    assert sec.generated_token is None
    with pytest.raises(ValueError, match="refusing"):
        build_security(SecurityOptions(), LocalExecer(), host="0.0.0.0")
    sec = build_security(SecurityOptions(), LocalExecer(), host="::1")
    assert sec.generated_token is not None
