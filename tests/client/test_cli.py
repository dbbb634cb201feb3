"""The ``wsep`` console script: exit codes, one-line errors, stdin/stdout, ``cp``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys

import pytest
from support.cli import assert_ctrl_c_is_forwarded, cli_env, one_line, start_wsep, wsep
from support.client import CP_SIZE

pytestmark = pytest.mark.usefixtures("no_leaked_children")


async def test_exit_code_and_streams(url: str) -> None:
    code, out, err = await wsep(
        "run", "--url", url, "--", "sh", "-c", "echo out; echo err >&2; exit 7"
    )
    assert (code, out, err) == (7, b"out\n", b"err\n")


async def test_signal_exit_is_128_plus_n(url: str) -> None:
    code, _, _ = await wsep("run", "--url", url, "--", "sh", "-c", "kill -TERM $$")
    assert code == 128 + 15


async def test_stdin_env_cwd_and_url_from_environment(url: str, tmp_path) -> None:
    data = os.urandom(3_000_000)
    code, out, _ = await wsep(
        "run",
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "--cwd",
        str(tmp_path),
        "--",
        "sh",
        "-c",
        'echo "$A $B $(pwd)" >&2; sha256sum',
        input=data,
        env={"WSEP_URL": url},
    )
    assert code == 0
    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest()


async def test_large_output_is_never_truncated(url: str) -> None:
    code, out, _ = await wsep("run", "--url", url, "--", "head", "-c", "5000000", "/dev/zero")
    assert code == 0
    assert len(out) == 5_000_000


async def test_command_not_found(url: str) -> None:
    code, out, err = await wsep("run", "--url", url, "--", "no-such-command-wsep")
    assert code == 127
    assert out == b""
    assert "no-such-command-wsep" in one_line(err)


async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = await wsep("run", "--url", f"ws://127.0.0.1:{port}/", "--", "true")
    assert code == 255
    assert "connection refused" in one_line(err)


async def test_authentication_failure(make_server) -> None:
    from wsep_server.auth import StaticTokenAuthenticator, security_middlewares

    token = "cli-token-0123456789abcdef"
    auth = StaticTokenAuthenticator(plain=[("cli", token)])
    url = await make_server(middlewares=security_middlewares([auth]))
    code, _, err = await wsep("run", "--url", url, "--token", "wrong-token-000000", "--", "true")
    assert code == 255
    line = one_line(err)
    assert "401" in line
    assert "invalid token" in line
    code, out, _ = await wsep("run", "--url", url, "--", "echo", "ok", env={"WSEP_TOKEN": token})
    assert (code, out) == (0, b"ok\n")


async def test_timeout(url: str) -> None:
    code, _, err = await wsep("run", "--url", url, "--timeout", "0.5", "--", "sleep", "60")
    assert code == 124
    assert "timed out" in one_line(err)


async def test_usage_errors() -> None:
    code, _, err = await wsep("run", "--", "true")
    assert code == 2
    assert b"WSEP_URL" in err
    code, _, _ = await wsep("run", "--url", "ws://127.0.0.1:1/")
    assert code == 2


async def test_v1_only_server(v1_url: str) -> None:
    code, out, _ = await wsep(
        "run", "--url", v1_url, "--", "sh", "-c", "cat; exit 3", input=b"x" * 200_000
    )
    assert code == 3
    assert out == b"x" * 200_000


def test_help_does_not_import_aiohttp() -> None:
    code = (
        "import sys, wsep_client.__main__ as m; m.build_parser(); "
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_cp_both_ways_hash_checked(url: str, tmp_path) -> None:
    src = tmp_path / "src.bin"
    digest = hashlib.sha256()
    with open(src, "wb") as f:
        for _ in range(CP_SIZE // (1 << 20)):
            block = os.urandom(1 << 20)
            digest.update(block)
            f.write(block)
    remote_path = tmp_path / "remote.bin"
    code, _, err = await wsep(
        "cp", "--progress", "always", str(src), f"{url.rstrip('/')}:{remote_path}"
    )
    assert code == 0, err
    assert b"100.0%" in err  # the progress bar (shown by default when stderr is a terminal)
    assert hashlib.sha256(remote_path.read_bytes()).hexdigest() == digest.hexdigest()
    back = tmp_path / "back.bin"
    code, _, err = await wsep("cp", f":{remote_path}", str(back), env={"WSEP_URL": url})
    assert code == 0, err
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest.hexdigest()
    code, _, err = await wsep("cp", f":{tmp_path}/absent", str(back), env={"WSEP_URL": url})
    assert code == 1
    assert "absent" in one_line(err)


def test_remote_spec_parsing() -> None:
    from wsep_client._cli_cp import parse_remote

    assert parse_remote("ws://h:8080:/tmp/x", None) == ("ws://h:8080", "/tmp/x")
    assert parse_remote("wss://h/wsep:rel/x:y", None) == ("wss://h/wsep", "rel/x:y")
    assert parse_remote("ws://[::1]:9:/a", None) == ("ws://[::1]:9", "/a")
    assert parse_remote(":/a", "ws://d/") == ("ws://d/", "/a")
    assert parse_remote("./local:file", None) is None
    with pytest.raises(ValueError, match="WSEP_URL"):
        parse_remote(":/a", None)


async def test_exit_does_not_wait_for_local_stdin(url: str) -> None:
    """The remote exits while our stdin is still open: wsep exits at once (no 5 s stall)."""
    proc = await start_wsep(
        "run",
        "--url",
        url,
        "--",
        "sh",
        "-c",
        "head -c 2000000 /dev/zero; exit 3",
        stdin=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = await asyncio.wait_for(proc.stdout.read(), 30)
    code = await asyncio.wait_for(proc.wait(), 4)  # stdin is still open
    assert proc.stdin is not None
    proc.stdin.close()
    assert code == 3
    assert len(out) == 2_000_000


async def test_ctrl_c_is_forwarded_to_the_remote_command(url: str) -> None:
    await assert_ctrl_c_is_forwarded("--url", url, env=cli_env(), timeout=30)


async def test_bad_working_directory_is_126(url: str) -> None:
    code, _, err = await wsep("run", "--url", url, "--cwd", "/nonexistent-wsep-dir", "--", "true")
    assert code == 126
    assert "nonexistent-wsep-dir" in one_line(err)
