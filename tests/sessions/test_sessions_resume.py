"""Resumable jobs without a TTY: output by offset across disconnects, gaps, bounded memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support import FULL
from support.sessions import PY, py
from support.streams import read_all
from wsep_protocol import Command
from wsep_protocol.sessions import Attached, Gap
from wsep_server.local import LocalExecer
from wsep_server.sessions import SessionConfig, SessionManager, TerminalLimits

BLOCK = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(32768))


def expected(total: int) -> bytes:
    return (BLOCK * (total // len(BLOCK) + 1))[:total]


def job(total: int, gate_at: int, fifo: Path) -> Command:
    path = Path(__file__).parent / "scripts" / "gated_writer.py"
    return Command(PY, ("-u", str(path), str(total), str(gate_at), str(fifo)))


def make_manager(**kwargs: object) -> SessionManager:
    return SessionManager(LocalExecer(output_linger=0.5), SessionConfig(**kwargs))  # type: ignore[arg-type]


@pytest.fixture
async def cleanup(no_leaked_children: None) -> AsyncIterator[list[SessionManager]]:
    managers: list[SessionManager] = []
    yield managers
    for mgr in managers:
        await asyncio.wait_for(mgr.close(), 30)


async def _release(fifo: Path) -> None:
    def write() -> None:
        with open(fifo, "w") as f:
            f.write("go\n")

    await asyncio.wait_for(asyncio.to_thread(write), 30)


async def test_resume_gets_every_byte_exactly_once(
    cleanup: list[SessionManager], tmp_path: Path
) -> None:
    total = 50_000_000 if FULL else 8_000_000
    mgr = make_manager(ring_bytes=total // 2 + (1 << 20), timeout=30)
    cleanup.append(mgr)
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    first = await mgr.open("job", job(total, total // 2, fifo), resumable=True)
    assert first.session.resumable
    assert not first.session.tty
    received = bytearray()
    while len(received) < total // 4:  # the connection drops in the middle
        received += await asyncio.wait_for(first.stdout.read(65536), 30)
    err = await asyncio.wait_for(first.stderr.read(100), 30)
    await first.close()

    second = await mgr.open("job", None, offsets={"stdout": len(received), "stderr": len(err)})
    attached, *gaps = second.announcement()
    assert isinstance(attached, Attached)
    assert not attached.created
    assert attached.resumable
    assert (attached.stdout_offset, attached.stderr_offset) == (len(received), len(err))
    assert gaps == []
    await _release(fifo)
    rest, err_rest = await asyncio.gather(read_all(second.stdout), read_all(second.stderr))
    received += rest
    assert len(received) == total
    assert hashlib.sha256(received).digest() == hashlib.sha256(expected(total)).digest()
    assert err + err_rest == b"stderr-begin\nstderr-end\n"
    assert (await asyncio.wait_for(second.wait(), 30)).code == 3
    await second.close()
    # The exit was delivered to a client that had everything: the job is gone.
    assert mgr.find(None, "job") is None


async def test_evicted_bytes_are_reported_as_a_gap(
    cleanup: list[SessionManager], tmp_path: Path
) -> None:
    mgr = make_manager(ring_bytes=100_000, timeout=30)
    cleanup.append(mgr)
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    total = 1_000_000
    first = await mgr.open("job", job(total, 10_000, fifo), resumable=True)
    got = await asyncio.wait_for(first.stdout.read(1000), 30)
    await first.close()
    await _release(fifo)
    session = first.session
    await asyncio.wait_for(session.exited.wait(), 30)  # nobody attached: the job ran on
    second = await mgr.open("job", None, offsets={"stdout": len(got), "stderr": 0})
    attached, *gaps = second.announcement()
    assert gaps == [Gap("stdout", len(got), total - 100_000 - len(got))]
    assert isinstance(attached, Attached)
    assert attached.stdout_offset == total - 100_000
    rest = await read_all(second.stdout)
    assert rest == expected(total)[total - 100_000 :]
    assert (await asyncio.wait_for(second.wait(), 30)).code == 3
    await second.close()


async def test_resume_without_offsets_starts_at_the_oldest_byte_held(
    cleanup: list[SessionManager],
) -> None:
    mgr = make_manager(ring_bytes=1000, timeout=30)
    cleanup.append(mgr)
    command = py("import sys; sys.stdout.write('x' * 5000 + 'END')", tty=False, stdin=False)
    first = await mgr.open("job", command, resumable=True)
    await first.close()
    await asyncio.wait_for(first.session.exited.wait(), 30)
    observer = await mgr.open("job", None, read_only=True)
    attached, *gaps = observer.announcement()
    assert gaps == []
    assert isinstance(attached, Attached)
    assert attached.stdout_offset == 4003
    assert await read_all(observer.stdout) == b"x" * 997 + b"END"


async def test_endless_job_output_is_held_at_the_ring_bound(cleanup: list[SessionManager]) -> None:
    mgr = make_manager(ring_bytes=256 << 10, timeout=30)
    cleanup.append(mgr)
    endless = py("import sys\nwhile True: sys.stdout.write('y' * 65536)", tty=False)
    client = await mgr.open("endless", endless, resumable=True)
    await client.close()
    ring = client.session.rings["stdout"]
    while ring.end < 20 * ring.capacity:  # nobody attached: it runs on, evicting
        assert ring.size <= ring.capacity
        await asyncio.wait_for(ring.changed(), 30)
    assert ring.size <= ring.capacity


async def test_endless_terminal_output_is_held_at_the_bound(cleanup: list[SessionManager]) -> None:
    limits = TerminalLimits(scrollback_lines=200, scrollback_cells=20_000, batch_bytes=256 << 10)
    mgr = make_manager(terminal=limits, timeout=30)
    cleanup.append(mgr)
    endless = py("import sys\nwhile True: sys.stdout.write('endless line of text\\n' * 1000)")
    client = await mgr.open("endless", endless)
    await client.close()
    terminal = client.session.terminal
    assert terminal is not None
    while terminal.bytes_in < 20 * limits.batch_bytes:
        assert terminal.pending_bytes <= limits.batch_bytes + (1 << 16)
        assert len(terminal.screen.scrollback) <= limits.scrollback_lines
        assert terminal.screen.scrollback_cells <= limits.scrollback_cells
        assert len(terminal.screen.buffer) <= 24
        await asyncio.sleep(0.01)  # sampling, not synchronisation
    assert terminal.bytes_skipped > 0  # plain text: most of it never went through pyte
