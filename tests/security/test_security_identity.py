"""Identities: namespaced by how they were proven, a fair share of sessions each,
local users by SO_PEERCRED, and proxies that cannot be impersonated locally."""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support import TIMEOUT
from support.security import JWT_SECRET, TOKENS, attempt, make_jwt, start_message

ALICE = TOKENS["alice"]


def _tty_start(session_id: str, *argv: str) -> str:
    return json.dumps(
        {
            "type": "start",
            "id": session_id,
            "command": {
                "command": argv[0],
                "args": list(argv[1:]),
                "tty": True,
                "rows": 24,
                "cols": 80,
            },
        }
    )


async def _open_session(
    http: aiohttp.ClientSession,
    url: str,
    start: str,
    token: str,
    marker: bytes | tuple[bytes, ...],
) -> tuple[aiohttp.ClientWebSocketResponse, bytes, int | None]:
    """Start (or attach); read until ``marker`` (or one of them) shows or the server closes.

    ``token`` is a bearer token, or a whole ``Authorization`` value (``Basic ...``)."""
    credentials = token if token.startswith("Basic ") else f"Bearer {token}"
    ws = await http.ws_connect(url, headers={"Authorization": credentials})
    markers = marker if isinstance(marker, tuple) else (marker,)
    await ws.send_str(start)
    seen = b""

    async def read() -> int | None:
        nonlocal seen
        while not any(m in seen for m in markers):
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return ws.close_code
            if msg.type == aiohttp.WSMsgType.BINARY:
                seen += msg.data.partition(b"\n")[2]
        return None

    code = await asyncio.wait_for(read(), TIMEOUT)
    return ws, seen, code


async def _read_until(ws: aiohttp.ClientWebSocketResponse, marker: bytes) -> bytes:
    """The session's output on ``ws`` up to ``marker`` (asserting it arrives)."""
    seen = b""

    async def read() -> None:
        nonlocal seen
        while marker not in seen:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.BINARY, (msg, seen)
            seen += msg.data.partition(b"\n")[2]

    await asyncio.wait_for(read(), TIMEOUT)
    return seen


@pytest.fixture
def unix_server() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``python -m wsep_server --unix-socket PATH ...``, started and stopped."""
    started: list[subprocess.Popen[bytes]] = []

    def start(path: str, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wsep_server", "--unix-socket", path, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith("wsep-server: serving "), first
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    from wsep_server.auth import hash_token

    path = tmp_path / "tokens"
    path.write_text(f"alice {hash_token(ALICE)}\n")
    return path


@pytest.fixture
def alice_credentials(token_file: Path, tmp_path: Path) -> list[str]:
    """Server flags: token-alice's token file and the JWT key (so a JWT may say alice too)."""
    key = tmp_path / "jwt.key"
    key.write_text(JWT_SECRET)
    return ["--token-file", str(token_file), "--jwt-key", str(key)]


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_jwt_alice_cannot_reach_token_alices_session(
    no_leaked_children: None,
    start_server_process: Callable[..., Any],
    alice_credentials: list[str],
) -> None:
    srv = start_server_process(*alice_credentials, "--session-timeout", "5")
    script = "echo secret-screen; exec sleep 60"
    async with aiohttp.ClientSession() as http:
        owner, seen, code = await _open_session(
            http, srv.url, _tty_start("shared", "sh", "-c", script), ALICE, b"secret-screen"
        )
        assert code is None, seen
        # A JWT whose sub is "alice": the same id must not find token-alice's session.
        other, seen, code = await _open_session(
            http,
            srv.url,
            _tty_start("shared", "sh", "-c", "echo own-session; exec sleep 60"),
            make_jwt("alice"),
            b"own-session",
        )
        assert b"secret-screen" not in seen
        assert b"own-session" in seen, seen
        await other.close()
        await owner.close()


# Root (as in CI's container) runs commands only where the policy grants uid 0.
_POLICY = '[default]\ncommands = ["/**"]\n' + ("uids = [0]\n" if os.geteuid() == 0 else "")


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_policy_principals_join_listed_proofs_only(
    no_leaked_children: None,
    start_server_process: Callable[..., Any],
    alice_credentials: list[str],
    tmp_path: Path,
) -> None:
    from wsep_server.auth import hash_password

    passwords, policy = tmp_path / "passwords", tmp_path / "p.toml"
    passwords.write_text(f"alice:{hash_password('pw-alice', rounds=4)}\n")
    policy.write_text(_POLICY + '[principals]\nalice = ["token:alice", "jwt:alice"]\n')
    srv = start_server_process(
        *alice_credentials,
        "--basic-auth-file", str(passwords), "--policy", str(policy), "--session-timeout", "5",
    )  # fmt: skip
    start = _tty_start("shared", "sh", "-c", "echo secret-screen; exec sleep 60")
    basic = "Basic " + base64.b64encode(b"alice:pw-alice").decode()
    async with aiohttp.ClientSession() as http:
        owner, seen, code = await _open_session(http, srv.url, start, ALICE, b"secret-screen")
        assert code is None, seen
        # The policy says the JWT alice is the same person: it reaches the same screen.
        joined, seen, code = await _open_session(
            http, srv.url, start, make_jwt("alice"), b"secret-screen"
        )
        assert code is None, seen
        # What one types, the other sees: one terminal.
        await joined.send_bytes(b'{"type":"stdin"}\ntyped-by-jwt')
        assert await _read_until(owner, b"typed-by-jwt")
        # A proof the policy does not list keeps its own sessions.
        other, seen, code = await _open_session(
            http,
            srv.url,
            _tty_start("shared", "sh", "-c", "echo own-session; exec sleep 60"),
            basic,
            b"own-session",
        )
        assert b"secret-screen" not in seen
        assert b"own-session" in seen, seen
        for ws in (other, joined, owner):
            await ws.close()


def _wait_log(proc: subprocess.Popen[bytes], needle: str) -> None:
    """Read the server's log until ``needle`` shows (blocking: run it in a thread)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if needle.encode() in line:
            return
    raise AssertionError(f"server log ended without {needle!r}")


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_principals_follow_a_policy_reload(
    no_leaked_children: None,
    start_server_process: Callable[..., Any],
    alice_credentials: list[str],
    tmp_path: Path,
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(_POLICY)
    srv = start_server_process(
        *alice_credentials, "--policy", str(policy), "--session-timeout", "5"
    )
    opened = []
    async with aiohttp.ClientSession() as http:

        async def jwt_reaches_token_alice(session_id: str) -> bool:
            script = f"echo screen-of-{session_id}; exec sleep 60"
            start = _tty_start(session_id, "sh", "-c", script)
            marker = f"screen-of-{session_id}".encode()
            owner, seen, code = await _open_session(http, srv.url, start, ALICE, marker)
            assert code is None, seen
            own = _tty_start(session_id, "sh", "-c", "echo own-session; exec sleep 60")
            joined, seen, code = await _open_session(
                http, srv.url, own, make_jwt("alice"), (marker, b"own-session")
            )
            opened.extend((owner, joined))
            assert code is None, seen
            return marker in seen

        assert not await jwt_reaches_token_alice("before")
        policy.write_text(_POLICY + '[principals]\nalice = ["token:alice", "jwt:alice"]\n')
        srv.proc.send_signal(signal.SIGHUP)
        await asyncio.wait_for(
            asyncio.to_thread(_wait_log, srv.proc, "configuration reloaded"), TIMEOUT
        )
        assert await jwt_reaches_token_alice("after")
        for ws in opened:
            await ws.close()


@pytest.mark.parametrize(
    ("check_only", "entries", "error"),
    [
        (False, 'alice = ["token:alice", "sso:alice"]', "alice: 'sso:alice': unknown method"),
        (True, 'alice = ["token:alice", "sso:alice"]', "alice: 'sso:alice': unknown method"),
        (True, 'alice = ["token:alice"]\nbob = ["token:alice"]', "already listed for 'alice'"),
        (True, 'alice = ["alice"]', "'alice' is not \"<method>:<name>\""),
        (True, 'alice = "token:alice"', 'alice: must be a list of "<method>:<name>" strings'),
    ],
)
def test_a_malformed_principals_entry_is_refused_at_start(
    tmp_path: Path, check_only: bool, entries: str, error: str
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(f"{_POLICY}[principals]\n{entries}\n")
    mode = ["--check-config"] if check_only else []
    out = subprocess.run(
        [sys.executable, "-m", "wsep_server", "--port", "0", "--policy", str(policy), *mode],
        capture_output=True,
        timeout=60,
        env={**os.environ, "WSEP_INSECURE_NO_AUTH": "1"},
    )
    assert out.returncode != 0
    lines = [line for line in out.stderr.decode().splitlines() if "principals" in line]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("wsep-server: "), lines
    assert "policy [principals] " in lines[0], lines
    assert error in lines[0], lines


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_one_identity_gets_a_share_and_concurrent_creates_respect_it(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process(
        "--max-sessions-per-identity", "3", "--session-timeout", "5", env={"WSEP_TOKEN": ALICE}
    )
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(
                _open_session(
                    http,
                    srv.url,
                    _tty_start(f"s{i}", "sh", "-c", "echo up; exec sleep 60"),
                    ALICE,
                    b"up",
                )
                for i in range(10)
            )
        )
        started = [ws for ws, _, code in results if code is None]
        refused = [ws for ws, _, code in results if code is not None]
        assert len(started) == 3
        assert {ws.close_code for ws in refused} == {1008}
        for ws, _, _ in results:
            await ws.close()


async def test_concurrent_creates_never_exceed_the_server_cap(
    no_leaked_children: None, wsep_server: str
) -> None:
    """Eight identities create at once against a cap of three. The execer is a chained
    server (its start awaits the network), so every create is in flight together."""
    from wsep_client import RemoteExecer
    from wsep_protocol import Command, PolicyViolation
    from wsep_server.auth import make_identity
    from wsep_server.sessions import SessionConfig, SessionManager

    execer = RemoteExecer(wsep_server)
    manager = SessionManager(execer, SessionConfig(max_sessions=3, timeout=5.0))
    command = Command(command="sleep", args=("60",), tty=True, rows=24, cols=80)
    try:
        outcomes = await asyncio.gather(
            *(
                manager.open(f"s{i}", command, identity=make_identity(f"user{i}", auth="token"))
                for i in range(8)
            ),
            return_exceptions=True,
        )
        opened = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, PolicyViolation)]
        assert len(opened) == 3, outcomes
        assert len(refused) == 5
        assert len(manager) == 3
    finally:
        await asyncio.wait_for(manager.close(), 30)
        await execer.close()


async def test_unix_socket_users_are_known_by_peer_credentials(
    no_leaked_children: None, socket_dir: Path, unix_server: Callable[..., Any]
) -> None:
    sock = str(socket_dir / "wsep.sock")
    proc = unix_server(sock, "--log-format", "json")
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as http,
        http.ws_connect("http://localhost/") as ws,
    ):
        await ws.send_str(start_message("echo", "local"))
        while b"exit_code" not in (await ws.receive()).data:
            pass
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    log = proc.stderr.read().decode()
    sessions = [json.loads(line) for line in log.splitlines() if '"msg": "session"' in line]
    assert [s["user"] for s in sessions] == [getpass.getuser()]


async def test_proxy_header_needs_the_shared_secret(
    no_leaked_children: None, start_server_process: Callable[..., Any], tmp_path: Path
) -> None:
    secret = tmp_path / "proxy.secret"
    secret.write_text("proxy-secret-0123456789abcdef\n")
    srv = start_server_process("--trusted-proxy", "127.0.0.1", "--proxy-secret-file", str(secret))
    # Any local process can connect from 127.0.0.1 and claim to be admin: not enough.
    out = await attempt(srv.url, start_message("id"), headers={"X-Remote-User": "admin"})
    assert out.status == 403
    wrong = {"X-Remote-User": "admin", "X-Wsep-Proxy-Secret": "guess-0123456789abcdef"}
    assert (await attempt(srv.url, start_message("id"), headers=wrong)).status == 403
    real = {"X-Remote-User": "admin", "X-Wsep-Proxy-Secret": "proxy-secret-0123456789abcdef"}
    ok = await attempt(srv.url, start_message("echo", "proxied"), headers=real)
    assert ok.stdout == b"proxied\n"
    srv.stop()
    assert "proxy-secret-0123456789abcdef" not in srv.output()


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_proxy_over_a_unix_socket_is_believed_only_from_its_user(
    no_leaked_children: None, socket_dir: Path, unix_server: Callable[..., Any]
) -> None:
    me = str(os.getuid())
    other = "65534" if os.getuid() != 65534 else "0"
    for trusted, allowed in ((f"unix:{me}", True), (f"unix:{other}", False)):
        sock = str(socket_dir / f"proxy-{trusted[5:]}.sock")
        unix_server(sock, "--trusted-proxy", trusted)
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as http:
            headers = {"X-Remote-User": "carol"}
            if allowed:
                async with http.ws_connect("http://localhost/", headers=headers) as ws:
                    await ws.send_str(start_message("echo", "via-proxy"))
                    msg = await ws.receive()
                    msg = await ws.receive()
                    assert msg.data == b'{"type":"stdout"}\nvia-proxy\n'
            else:
                async with http.get("http://localhost/", headers=headers) as resp:
                    assert resp.status == 403
