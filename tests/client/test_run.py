"""``run()`` and ``create_process()`` against a real server: output, input, exit, timeouts."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import wsep_client
from support.proc import proc_stat
from wsep_client import CompletedProcess, ProcessError, ProcessTimeout, StartFailed
from wsep_protocol import ExitStatus, ProtocolVersion, StartErrorKind

pytestmark = pytest.mark.usefixtures("no_leaked_children")


async def test_run_collects_output_and_exit_code(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        result = await remote.run("sh", "-c", "echo out; echo err >&2; exit 3")
    assert isinstance(result, CompletedProcess)
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert result.exit_signal is None
    assert result.pid > 0
    assert result.args == ("sh", "-c", "echo out; echo err >&2; exit 3")


async def test_run_with_input_env_and_cwd(url: str, tmp_path) -> None:
    async with wsep_client.connect(url) as remote:
        result = await remote.run(
            "sh",
            "-c",
            'cat; echo "$GREETING"; pwd',
            input=b"from stdin\n",
            env={"GREETING": "hello there"},
            cwd=str(tmp_path),
            check=True,
        )
    assert result.stdout == f"from stdin\nhello there\n{tmp_path}\n".encode()


async def test_run_without_input_gives_eof(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        result = await remote.run("cat", timeout=30)
    assert result.returncode == 0
    assert result.stdout == b""


async def test_check_raises_process_error_with_result(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(ProcessError) as info:
            await remote.run("sh", "-c", "echo partial; echo why >&2; exit 5", check=True)
    err = info.value
    assert err.returncode == 5
    assert err.stdout == b"partial\n"
    assert err.stderr == b"why\n"
    assert "exited with status 5" in str(err)
    assert isinstance(err, wsep_client.ClientError)


@pytest.mark.parametrize("version", [ProtocolVersion.V1, ProtocolVersion.V2])
async def test_signal_exit_is_reported(url: str, version: ProtocolVersion) -> None:
    async with wsep_client.connect(url, version=version) as remote:
        result = await remote.run("sh", "-c", "kill -KILL $$")
        with pytest.raises(ProcessError, match="SIGTERM"):
            await remote.run("sh", "-c", "kill -TERM $$", check=True)
    assert result.returncode == -9
    assert result.exit_signal == 9
    assert result.shell_code == 137


async def test_timeout_ends_the_remote_process(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(ProcessTimeout) as info:
            await remote.run("sh", "-c", "echo started; exec sleep 60", timeout=1.0)
    err = info.value
    assert isinstance(err, TimeoutError)
    assert isinstance(err, ProcessError)
    assert err.returncode is None
    assert err.stdout == b"started\n"
    assert err.result.pid > 0
    await _wait_gone(err.result.pid)


async def test_create_process_streams_and_waits(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "read x; echo got $x; exit 4")
        assert proc.pid > 0
        assert proc.returncode is None
        proc.stdin.write(b"value\n")
        await proc.stdin.drain()
        assert await proc.stdout.readline() == b"got value\n"
        assert await proc.wait() == 4
        assert proc.exit_status == ExitStatus(4)
        assert proc.returncode == 4
        assert await proc.stdout.read() == b""
        await proc.close()


async def test_communicate(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "tr a-z A-Z; echo done >&2")
        out, err = await proc.communicate(b"abc" * 100_000)
        await proc.close()
    assert out == b"ABC" * 100_000
    assert err == b"done\n"
    assert proc.returncode == 0


async def test_command_not_found_is_start_failed(url: str, v1_url: str) -> None:
    for target in (url, v1_url):
        async with wsep_client.connect(target) as remote:
            with pytest.raises(StartFailed) as info:
                await remote.run("no-such-command-wsep")
        err = info.value
        assert err.kind is StartErrorKind.COMMAND_NOT_FOUND
        assert "no-such-command-wsep" in str(err)
        assert isinstance(err, wsep_client.ClientError)


async def test_terminate_and_kill_with_v2(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "echo ready; exec sleep 60")
        assert await proc.stdout.readline() == b"ready\n"
        proc.terminate()
        assert await proc.wait() == -signal.SIGTERM
        assert proc.exit_status is not None
        assert proc.exit_status.signal == signal.SIGTERM
        assert proc.returncode == -signal.SIGTERM
        await proc.close()
        proc = await remote.create_process("sh", "-c", "trap '' TERM; echo ready; sleep 60")
        assert await proc.stdout.readline() == b"ready\n"
        await proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        await proc.close()


async def test_many_sequential_runs_share_a_callers_http_session(url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http_session:
        async with wsep_client.connect(url, http_session=http_session) as remote:
            results = await asyncio.gather(*(remote.run("echo", str(i)) for i in range(20)))
        assert not http_session.closed  # a caller's http_session is never closed by the client
    assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(20)]


async def test_session_is_a_deprecated_keyword_for_the_http_session(url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http_session:
        with pytest.deprecated_call():
            connecting = wsep_client.connect(url, session=http_session)
        async with connecting as remote:
            assert (await remote.run("true")).returncode == 0
        with pytest.deprecated_call():
            execer = wsep_client.RemoteExecer(url, session=http_session, share_session=False)
        async with execer:
            assert (await execer.run("true")).returncode == 0
        with pytest.deprecated_call():
            fleet = wsep_client.Fleet([], session=http_session)
        await fleet.close()
        assert not http_session.closed


async def _wait_gone(pid: int) -> None:
    """Wait (event-driven, via a pidfd) until ``pid`` has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_reader(fd, done.set)
        try:
            await asyncio.wait_for(done.wait(), 30)
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)
    state = proc_stat(pid)
    assert state is None or state[0] == "Z"


async def test_execer_over_an_open_websocket(url: str) -> None:
    import aiohttp
    from wsep_client import WebSocketExecer
    from wsep_protocol import LocalProtocolError

    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, protocols=("wsep.v2",))
        execer = WebSocketExecer(ws)
        result = await execer.run("sh", "-c", "echo via open socket; exit 2")
        with pytest.raises(LocalProtocolError, match="one per connection"):
            await execer.run("true")
        assert ws.closed
    assert (result.returncode, result.stdout) == (2, b"via open socket\n")


async def test_tty_resize_reaches_the_process(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process(
            "sh", "-c", "stty size; read x; stty size", tty=True, rows=20, cols=70
        )
        assert await proc.stdout.readline() == b"20 70\r\n"
        assert await proc.stderr.read() == b""  # a TTY merges stderr into stdout
        await proc.resize(33, 101)
        proc.stdin.write(b"go\r")
        await proc.stdin.drain()
        rest = await proc.stdout.read()
        assert await proc.wait() == 0
        await proc.close()
    assert rest.endswith(b"33 101\r\n")


async def test_more_than_a_hundred_concurrent_processes_on_one_execer(url: str) -> None:
    """Each process holds its own WebSocket: no connection-pool cap may block the 101st."""
    async with wsep_client.connect(url) as remote:
        procs = await asyncio.wait_for(
            asyncio.gather(*(remote.create_process("cat") for _ in range(120))), 60
        )
        assert len({p.pid for p in procs}) == 120
        for proc in procs:
            proc.stdin.close()
        codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 60)
    assert all(code == 0 for code in codes)
