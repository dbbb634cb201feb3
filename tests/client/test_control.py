"""``wsep run`` through a control master: as a direct run, over a private socket."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import pty
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.cli import assert_ctrl_c_is_forwarded, cli_env, start_wsep

# End to end through real CLI processes and masters: one interpreter is enough (nox).
pytestmark = [pytest.mark.usefixtures("no_leaked_children"), pytest.mark.once]


class Control:
    """A private control directory and the environment that points ``wsep`` at it."""

    def __init__(self, url: str, directory: str) -> None:
        self.url = url
        self.dir = directory
        self.env = cli_env({"WSEP_URL": url, "WSEP_CONTROL_DIR": directory, "WSEP_CONTROL": "yes"})

    async def run(self, *args: str, input: bytes = b"", **env: str) -> tuple[int, bytes, bytes]:
        proc = await start_wsep(
            *args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env={**self.env, **env}
        )
        out, err = await asyncio.wait_for(proc.communicate(input), 120)
        assert proc.returncode is not None
        return proc.returncode, out, err

    async def status(self) -> dict[str, int] | None:
        code, out, _ = await self.run("control", "status")
        if code != 0:
            return None
        match = re.search(rb"control master (\d+) .*: (\d+) running, (\d+) served", out)
        assert match, out
        pid, running, served = (int(x) for x in match.groups())
        return {"pid": pid, "running": running, "served": served}

    async def stop(self) -> None:
        status = await self.status()
        if status is None:
            return
        await self.run("control", "stop")
        await wait_gone(status["pid"])


async def wait_gone(pid: int, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _alive(pid):
        assert loop.time() < deadline, f"process {pid} still running"
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
async def control(url: str) -> AsyncIterator[Control]:
    directory = tempfile.mkdtemp(prefix="wsepc-")  # short: a Unix socket path has 108 bytes
    os.chmod(directory, 0o700)
    ctl = Control(url, directory)
    try:
        yield ctl
    finally:
        await ctl.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def test_exit_code_and_streams_go_through_the_master(control: Control) -> None:
    script = "echo out; echo err >&2; exit 7"
    assert await control.run("run", "--", "sh", "-c", script) == (7, b"out\n", b"err\n")
    before = await control.status()
    assert before is not None
    assert before["served"] == 1
    assert await control.run("run", "--", "sh", "-c", "kill -TERM $$") == (143, b"", b"")
    assert await control.run("run", "--", "sh", "-c", script) == (7, b"out\n", b"err\n")
    after = await control.status()
    assert after == {"pid": before["pid"], "running": 0, "served": 3}


async def test_stdin_and_large_output_pass_through_the_descriptors(control: Control) -> None:
    data = os.urandom(3_000_000)
    code, out, _ = await control.run("run", "--", "sha256sum", input=data)
    assert code == 0
    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest()
    code, out, _ = await control.run("run", "--", "head", "-c", "5000000", "/dev/zero")
    assert (code, len(out)) == (0, 5_000_000)
    status = await control.status()
    assert status is not None
    assert status["served"] == 2


async def test_errors_and_timeouts_keep_the_direct_exit_codes(control: Control) -> None:
    code, _, err = await control.run("run", "--", "no-such-command-wsep")
    assert code == 127
    assert err.decode().count("\n") == 1
    assert err.startswith(b"wsep: ")
    code, _, err = await control.run("run", "--timeout", "0.5", "--", "sleep", "60")
    assert code == 124
    assert b"timed out" in err


async def test_ctrl_c_reaches_the_remote_command(control: Control) -> None:
    await control.run("control", "start")
    await assert_ctrl_c_is_forwarded(env=control.env, timeout=60)


async def _run_remote_sleep(
    control: Control, tmp_path: Path
) -> tuple[asyncio.subprocess.Process, Path]:
    """``wsep run`` of a remote sleep through a started master, once it is running;
    the remote pid is in the returned file."""
    await control.run("control", "start")
    marker = tmp_path / "pid"
    proc = await start_wsep(
        "run",
        "--",
        "sh",
        "-c",
        f"echo $$ > {marker}; echo ready; exec sleep 60",
        stdin=subprocess.DEVNULL,
        env=control.env,
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
    return proc, marker


async def test_sigterm_ends_the_remote_command(control: Control, tmp_path) -> None:
    proc, marker = await _run_remote_sleep(control, tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 60) == 143
    await wait_gone(int(marker.read_text()))


async def test_a_killed_client_ends_its_remote_command(control: Control, tmp_path) -> None:
    proc, marker = await _run_remote_sleep(control, tmp_path)
    proc.kill()
    await proc.wait()
    await wait_gone(int(marker.read_text()))


async def test_tty_mode_resize_and_raw_ctrl_c(control: Control) -> None:
    await control.run("control", "start")
    script = (
        "stty size; trap 'stty size' WINCH; echo ready; "
        "while :; do read -r line && echo got:$line; done"
    )
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    saved = termios.tcgetattr(secondary)
    proc = await start_wsep(
        "run",
        "-t",
        "--",
        "sh",
        "-c",
        script,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**control.env, "TERM": "xterm"},
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    seen = bytearray()

    async def expect(pattern: bytes) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while pattern not in seen:
            assert loop.time() < deadline, bytes(seen)
            ready = asyncio.Event()
            loop.add_reader(main, ready.set)
            try:
                await asyncio.wait_for(ready.wait(), max(0.0, deadline - loop.time()))
            finally:
                loop.remove_reader(main)
            seen.extend(os.read(main, 65536))

    try:
        await expect(b"ready")
        assert b"30 100" in seen
        attrs = termios.tcgetattr(secondary)
        assert not attrs[3] & termios.ECHO  # raw mode while the command runs
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        proc.send_signal(signal.SIGWINCH)
        await expect(b"40 120")
        os.write(main, b"hello\r")
        await expect(b"got:hello")
        os.write(main, b"\x03")  # Ctrl-C as a byte: the remote terminal makes it SIGINT
        assert await asyncio.wait_for(proc.wait(), 60) == 130
        assert termios.tcgetattr(secondary) == saved  # the terminal is restored
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(main)
        os.close(secondary)


async def test_socket_and_directory_are_private(control: Control) -> None:
    await control.run("control", "start")
    info = os.lstat(control.dir)
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.getuid()
    sockets = [n for n in os.listdir(control.dir) if n.endswith(".sock")]
    assert len(sockets) == 1
    assert stat.S_IMODE(os.lstat(os.path.join(control.dir, sockets[0])).st_mode) == 0o600


async def test_a_shared_directory_is_refused_and_the_command_runs_directly(
    control: Control,
) -> None:
    os.chmod(control.dir, 0o755)
    code, out, err = await control.run("run", "--", "echo", "hi")
    assert (code, out) == (0, b"hi\n")
    assert b"not a private directory" in err
    assert not [n for n in os.listdir(control.dir) if n.endswith(".sock")]


async def test_auto_runs_directly_and_starts_a_master_for_the_next_call(control: Control) -> None:
    code, out, _ = await control.run("run", "--", "echo", "first", WSEP_CONTROL="auto")
    assert (code, out) == (0, b"first\n")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (status := await control.status()) is None:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    assert status["served"] == 0  # the first call did not wait for it
    code, out, _ = await control.run("run", "--", "echo", "second", WSEP_CONTROL="auto")
    assert (code, out) == (0, b"second\n")
    assert (await control.status() or {}).get("served") == 1


async def test_an_idle_master_exits_by_itself(control: Control) -> None:
    code, out, _ = await control.run("control", "start", WSEP_CONTROL_PERSIST="1")
    assert code == 0
    match = re.search(rb"control master (\d+) ", out)
    assert match, out
    await wait_gone(int(match.group(1)))
    assert not [n for n in os.listdir(control.dir) if n.endswith(".sock")]


async def test_a_master_that_dies_mid_command_is_one_line(control: Control, tmp_path: Path) -> None:
    proc, _ = await _run_remote_sleep(control, tmp_path)
    status = await control.status()
    assert status is not None
    os.kill(status["pid"], signal.SIGKILL)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 255
    assert err == b"wsep: the control master went away before the command ended\n"
    await wait_gone(status["pid"])


async def test_without_control_no_master_is_started(control: Control) -> None:
    code, out, _ = await control.run("run", "--", "echo", "hi", WSEP_CONTROL="no")
    assert (code, out) == (0, b"hi\n")
    assert os.listdir(control.dir) == []


async def test_the_thin_client_imports_neither_asyncio_nor_aiohttp(control: Control) -> None:
    await control.run("control", "start")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "wsep_client",
        "run",
        "--",
        "true",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=control.env,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in err.decode().splitlines() if "|" in line}
    assert "wsep_client._control_client" in imported
    heavy = {"asyncio", "aiohttp", "wsep_client.execer", "ssl", "typing", "dataclasses"}
    assert not heavy & imported
    status = await control.status()
    assert status is not None
    assert status["served"] == 1
