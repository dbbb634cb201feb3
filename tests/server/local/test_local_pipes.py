"""Pipes: output, exit codes, environment, working directory, stdin, the framed fast path."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path

import pytest
from support import FULL, TIMEOUT, write_executable
from support.localexec import read_stdout_until, run
from support.streams import read_all
from wsep_protocol import Command, Execer, Process
from wsep_server.local import FramedReader, LocalExecer, LocalProcess


async def test_satisfies_protocols(execer: LocalExecer) -> None:
    assert isinstance(execer, Execer)
    proc = await execer.start(Command("true"))
    try:
        assert isinstance(proc, Process)
        assert isinstance(proc, LocalProcess)
        assert isinstance(proc.stdout, FramedReader)
        assert isinstance(proc.stderr, FramedReader)
    finally:
        await proc.close()


async def test_echo_and_exit_zero(execer: LocalExecer) -> None:
    out, err, status = await run(execer, Command("echo", ("hello", "world")))
    assert (out, err) == (b"hello world\n", b"")
    assert status.code == 0
    assert status.signal is None
    assert status.error == ""


@pytest.mark.parametrize("code", [1, 7, 255])
async def test_exit_codes(execer: LocalExecer, code: int) -> None:
    _, _, status = await run(execer, Command("sh", ("-c", f"exit {code}")))
    assert status.code == code
    assert status.error == f"exit status {code}"


async def test_stdout_and_stderr_are_separate(execer: LocalExecer) -> None:
    out, err, _ = await run(execer, Command("sh", ("-c", "echo out; echo err >&2")))
    assert out == b"out\n"
    assert err == b"err\n"


async def test_env_added_to_server_env(
    execer: LocalExecer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SERVER_VAR", "from-server")
    cmd = Command(
        "sh",
        ("-c", 'echo "$TEST_SERVER_VAR|$FOO|$BAR|${WSEP_TTY:-unset}"'),
        env=("FOO=a=b", "BAR="),
    )
    out, _, _ = await run(execer, cmd)
    assert out == b"from-server|a=b||unset\n"


async def test_env_overrides_server_env(
    execer: LocalExecer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSEP_TEST_SERVER_VAR", "from-server")
    cmd = Command("sh", ("-c", 'echo "$WSEP_TEST_SERVER_VAR"'), env=("WSEP_TEST_SERVER_VAR=x",))
    out, _, _ = await run(execer, cmd)
    assert out == b"x\n"


async def test_working_dir(execer: LocalExecer, tmp_path: Path) -> None:
    out, _, _ = await run(execer, Command("pwd", working_dir=str(tmp_path)))
    assert out.decode().strip() == str(tmp_path)


async def test_default_working_dir_is_servers(execer: LocalExecer) -> None:
    out, _, _ = await run(execer, Command("pwd"))
    assert out.decode().strip() == os.getcwd()


async def test_relative_command_runs_in_working_dir(execer: LocalExecer, tmp_path: Path) -> None:
    script = write_executable(tmp_path / "hello.sh", '#!/bin/sh\necho relative "$0"\n')
    out, _, _ = await run(execer, Command("./hello.sh", working_dir=str(tmp_path)))
    assert out == f"relative {script}\n".encode()


async def test_stdin_round_trip_hash(execer: LocalExecer) -> None:
    size = (100 if FULL else 8) << 20
    data = os.urandom(size)
    proc = await execer.start(Command("cat", stdin=True))
    try:
        digest = hashlib.sha256()
        total = 0

        async def feed() -> None:
            view = memoryview(data)
            for i in range(0, size, 1 << 18):
                proc.stdin.write(view[i : i + (1 << 18)])
                assert proc.stdin.buffered <= (1 << 18) + 256 * 1024  # bounded
                await proc.stdin.drain()
            proc.stdin.close()

        feeder = asyncio.create_task(feed())
        while chunk := await asyncio.wait_for(proc.stdout.read_message(b"H", 1 << 20), TIMEOUT):
            assert chunk[:1] == b"H"
            digest.update(memoryview(chunk)[1:])
            total += len(chunk) - 1
        await feeder
        assert total == size
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert (await proc.wait()).code == 0
    finally:
        await proc.close()


async def test_stdin_eof_ends_reader(execer: LocalExecer) -> None:
    out, _, status = await run(execer, Command("wc", ("-c",), stdin=True), stdin=b"x" * 1000)
    assert out.strip() == b"1000"
    assert status.code == 0


async def test_stdin_close_without_data(execer: LocalExecer) -> None:
    out, _, status = await run(execer, Command("cat", stdin=True), stdin=b"")
    assert out == b""
    assert status.code == 0


async def test_stdin_not_requested_reads_dev_null(execer: LocalExecer) -> None:
    proc = await execer.start(Command("cat"))
    try:
        proc.stdin.write(b"ignored")  # no stdin pipe: discarded, not an error
        await proc.stdin.drain()
        assert await read_all(proc.stdout) == b""
        assert (await proc.wait()).code == 0
    finally:
        await proc.close()


async def test_stdin_after_child_closed_it_is_discarded(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "exec 0<&-; echo closed"), stdin=True))
    try:
        assert await read_all(proc.stdout) == b"closed\n"
        await proc.wait()
        for _ in range(64):
            proc.stdin.write(b"y" * 65536)
            await asyncio.wait_for(proc.stdin.drain(), TIMEOUT)
        assert proc.stdin.broken
    finally:
        await proc.close()


async def test_drain_applies_backpressure(execer: LocalExecer) -> None:
    """A child that does not read: drain blocks instead of buffering without bound."""
    proc = await execer.start(
        Command("sh", ("-c", "echo stopping; kill -STOP $$; exec cat >/dev/null"), stdin=True)
    )
    try:
        buf = bytearray()
        await read_stdout_until(proc, b"stopping", buf)
        proc.stdin.write(b"z" * (4 << 20))  # more than the pipe plus the high-water mark
        drain = asyncio.ensure_future(proc.stdin.drain())
        done, _ = await asyncio.wait({drain}, timeout=0.2)
        assert not done
        assert proc.stdin.buffered > 0
        await proc.send_signal(signal.SIGCONT)
        await asyncio.wait_for(drain, TIMEOUT)
        proc.stdin.close()
        assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == 0
    finally:
        await proc.close()


async def test_read_message_respects_max_size(execer: LocalExecer) -> None:
    proc = await execer.start(Command("head", ("-c", "300000", "/dev/zero")))
    try:
        header = b"\x01{}\n"
        total = 0
        while msg := await asyncio.wait_for(proc.stdout.read_message(header, 4096), TIMEOUT):
            assert bytes(msg[: len(header)]) == header
            assert len(header) < len(msg) <= 4096
            total += len(msg) - len(header)
        assert total == 300000
        assert await proc.stdout.read_message(header, 4096) == b""
        assert await proc.stdout.read(10) == b""
    finally:
        await proc.close()


async def test_read_minus_one_reads_to_eof(execer: LocalExecer) -> None:
    proc = await execer.start(Command("head", ("-c", "200000", "/dev/zero")))
    try:
        assert await asyncio.wait_for(proc.stdout.read(-1), TIMEOUT) == bytes(200000)
    finally:
        await proc.close()


async def test_concurrent_reads_refused(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sleep", ("5",)))
    try:
        first = asyncio.ensure_future(proc.stdout.read(10))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await proc.stdout.read(10)
        await proc.close()
        assert await asyncio.wait_for(first, TIMEOUT) == b""
    finally:
        await proc.close()


async def test_resolve_gives_absolute_path(execer: LocalExecer, tmp_path: Path) -> None:
    sh = execer.resolve(Command("sh"))
    assert os.path.isabs(sh)
    assert os.path.basename(sh) == "sh"
    script = write_executable(tmp_path / "x", "#!/bin/sh\n")
    assert execer.resolve(Command("./x", working_dir=str(tmp_path))) == str(script)
    assert execer.resolve(Command(str(script))) == str(script)
