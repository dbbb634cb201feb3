"""Helpers shared by the local execer tests (a module, not conftest: a unique import name)."""

from __future__ import annotations

import asyncio
import os

from wsep_protocol import Command, ExitStatus
from wsep_server.local import LocalExecer, LocalProcess

TIMEOUT = 30.0


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of ``pid`` from /proc, ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies count as gone:
    an orphan's zombie waits for PID 1, which may not reap in a container)."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st[2] == pgid and st[0] != "Z":
                members.append(int(name))
    return members


def my_zombies() -> list[int]:
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st[1] == me and st[0] == "Z":
                out.append(int(name))
    return out


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def read_all(reader: object) -> bytes:
    """Everything a reader delivers until EOF, through ``read``."""
    out = bytearray()
    while chunk := await asyncio.wait_for(reader.read(1 << 16), TIMEOUT):  # type: ignore[attr-defined]
        out += chunk
    return bytes(out)


async def run(
    execer: LocalExecer, command: Command, stdin: bytes | None = None
) -> tuple[bytes, bytes, ExitStatus]:
    """Start, feed ``stdin`` (then EOF), collect both streams, wait, close."""
    proc = await execer.start(command)
    try:

        async def feed() -> None:
            if stdin is not None:
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()

        feeder = asyncio.create_task(feed())
        out, err = await asyncio.gather(read_all(proc.stdout), read_all(proc.stderr))
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
        await feeder
        return out, err, status
    finally:
        await proc.close()


async def read_until(proc: LocalProcess, marker: bytes, buf: bytearray) -> None:
    """Read stdout into ``buf`` until ``marker`` appears (the child reached a point)."""
    while marker not in buf:
        chunk = await asyncio.wait_for(proc.stdout.read(4096), TIMEOUT)
        if not chunk:
            raise AssertionError(f"EOF before {marker!r}; got {bytes(buf)!r}")
        buf += chunk
