"""PTY: size, resize with SIGWINCH, controlling terminal, merged stderr, input, hang-up."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest
from support import TIMEOUT
from support.localexec import read_stdout_until, run
from support.streams import read_all
from wsep_protocol import Command
from wsep_server.local import LocalExecer


async def test_default_size_is_24_by_80(execer: LocalExecer) -> None:
    out, err, status = await run(execer, Command("stty", ("size",), tty=True))
    assert out == b"24 80\r\n"
    assert err == b""
    assert status.code == 0


async def test_given_size_rows_then_cols(execer: LocalExecer) -> None:
    out, _, _ = await run(execer, Command("stty", ("size",), tty=True, rows=40, cols=132))
    assert out == b"40 132\r\n"


async def test_resize_delivers_sigwinch(execer: LocalExecer) -> None:
    script = "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.01; done"
    proc = await execer.start(Command("sh", ("-c", script), tty=True))
    try:
        buf = bytearray()
        await read_stdout_until(proc, b"ready\r\n", buf)
        await proc.resize(50, 120)
        rest = await read_all(proc.stdout)
        assert (buf + rest).endswith(b"50 120\r\n")
        assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == 0
    finally:
        await proc.close()


async def test_resize_zero_keeps_dimension(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "read x; stty size"), tty=True))
    try:
        await proc.resize(30, 0)
        proc.stdin.write(b"go\n")
        out = await read_all(proc.stdout)
        assert out.endswith(b"30 80\r\n")
    finally:
        await proc.close()


async def test_resize_without_tty_is_noop(execer: LocalExecer) -> None:
    proc = await execer.start(Command("true"))
    try:
        await proc.resize(10, 10)
        await proc.wait()
    finally:
        await proc.close()


async def _tty_lines(execer: LocalExecer, script: str, **size: int) -> tuple[list[bytes], int]:
    """The lines ``sh -c script`` printed on its terminal, and its pid."""
    proc = await execer.start(Command("sh", ("-c", script), tty=True, **size))
    try:
        out = await read_all(proc.stdout)
        await proc.wait()
    finally:
        await proc.close()
    return out.split(b"\r\n"), proc.pid


async def test_tty_name_is_a_pts(execer: LocalExecer) -> None:
    out, _, _ = await run(execer, Command("tty", tty=True))
    assert re.fullmatch(rb"/dev/pts/\d+\r\n", out), out


async def test_tty_is_the_controlling_terminal(execer: LocalExecer) -> None:
    # /dev/tty opens only with a controlling terminal; the child leads its own session.
    script = "echo via-dev-tty > /dev/tty; ps -o sid=,pgid=,tpgid= -p $$"
    lines, pid = await _tty_lines(execer, script)
    assert lines[0] == b"via-dev-tty"
    sid, pgid, tpgid = (int(x) for x in lines[1].split())
    assert sid == pgid == tpgid == pid


async def test_wsep_tty_env(execer: LocalExecer) -> None:
    out, _, _ = await run(execer, Command("sh", ("-c", 'echo "$WSEP_TTY"'), tty=True))
    assert out == b"true\r\n"


async def test_stderr_merged_and_newlines_translated(execer: LocalExecer) -> None:
    out, err, _ = await run(execer, Command("sh", ("-c", "echo out; echo err >&2"), tty=True))
    assert out == b"out\r\nerr\r\n"
    assert err == b""


async def test_stdin_through_tty_and_eof(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "stty -echo; echo ready; cat"), tty=True))
    try:
        buf = bytearray()
        await read_stdout_until(proc, b"ready\r\n", buf)
        proc.stdin.write(b"hello tty\n")
        await proc.stdin.drain()
        await read_stdout_until(proc, b"hello tty\r\n", buf)
        proc.stdin.close()  # ^D at the start of a line: cat sees EOF
        await read_all(proc.stdout)
        assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == 0
    finally:
        await proc.close()


async def test_close_hangs_up_tty(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sleep", ("100",), tty=True))
    await proc.close()
    status = await proc.wait()
    assert status.signal == signal.SIGHUP
    assert status.error == "signal: hangup"


async def test_tty_output_large(execer: LocalExecer) -> None:
    out, _, _ = await run(execer, Command("head", ("-c", "200000", "/dev/zero"), tty=True))
    assert out == bytes(200000)


@pytest.mark.parametrize("tty", [False, True])
async def test_child_signal_dispositions_are_default(execer: LocalExecer, tty: bool) -> None:
    """The server ignores SIGPIPE (Python does); its children must not inherit that."""
    out, _, _ = await run(execer, Command("grep", ("SigIgn", "/proc/self/status"), tty=tty))
    assert int(out.split()[1], 16) & (1 << (signal.SIGPIPE - 1)) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_tty_as_another_user(execer: LocalExecer) -> None:
    script = "id -u; stat -c %u $(tty); echo x > /dev/tty; stty size"
    cmd = Command("sh", ("-c", script), tty=True, uid=65534, gid=65534, working_dir="/")
    out, _, status = await run(execer, cmd)
    assert status.code == 0
    assert out.split(b"\r\n")[:4] == [b"65534", b"65534", b"x", b"24 80"]


async def test_tty_without_posix_spawn(
    execer: LocalExecer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where glibc's posix_spawn cannot be used, subprocess sets the terminal up instead."""
    from wsep_server.local import pspawn

    monkeypatch.setattr(pspawn, "_checked", True)
    monkeypatch.setattr(pspawn, "_libc", None)
    script = "echo via-dev-tty > /dev/tty; ps -o sid=,pgid=,tpgid= -p $$; stty size"
    lines, pid = await _tty_lines(execer, script, rows=5, cols=70)
    assert lines[0] == b"via-dev-tty"
    assert [int(x) for x in lines[1].split()] == [pid] * 3
    assert lines[2] == b"5 70"


async def test_out_of_range_sizes_are_clamped(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "read x; stty size"), tty=True, rows=70000))
    try:
        await proc.resize(-5, 1 << 20)
        proc.stdin.write(b"go\n")
        out = await read_all(proc.stdout)
        assert out.endswith(b"65535 65535\r\n"), out
    finally:
        await proc.close()
