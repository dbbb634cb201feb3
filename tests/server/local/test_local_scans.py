"""Passes over /proc never run on the event loop, nor make it wait for one.

A pass costs about 20 µs a process on the host: on a busy machine, long enough
to stall every connection if the loop made it or waited for one in progress.
A thread holding the tracker's lock makes a real pass (a periodic refresh's)
last as long as the test needs; the loop must go on meanwhile, shown by a
heartbeat that the holder waits for, not by timing.
"""

from __future__ import annotations

import asyncio
import threading

from support import TIMEOUT
from support.proc import live_group_members
from support.streams import read_all
from wsep_protocol import Command
from wsep_server.local import LocalExecer


async def test_the_loop_runs_while_a_long_pass_is_in_progress(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "sleep 600 & echo up; wait")))
    assert b"up" in await asyncio.wait_for(proc.stdout.read(100), TIMEOUT)
    lock = execer.containment.tracker._lock
    held = threading.Event()
    beat = threading.Event()
    outcome: list[bool] = []

    def long_pass() -> None:
        with lock:
            held.set()
            outcome.append(beat.wait(TIMEOUT))  # False: the loop was stuck behind the lock

    holder = threading.Thread(target=long_pass, name="long-pass")
    holder.start()
    try:
        await asyncio.wait_for(asyncio.to_thread(held.wait, TIMEOUT), TIMEOUT)
        tracker = execer.containment.tracker
        scanning = asyncio.create_task(tracker.members(proc.pid))  # a pass, held up
        await asyncio.sleep(0)
        closing = asyncio.create_task(proc.close())  # looks at /proc for the group
        starting = asyncio.create_task(execer.start(Command("echo", ("second",))))
        for _ in range(20):  # the heartbeat: the loop turns while both wait for the pass
            await asyncio.sleep(0)
        beat.set()
        await asyncio.wait_for(scanning, TIMEOUT)
        await asyncio.wait_for(closing, TIMEOUT)
        second = await asyncio.wait_for(starting, TIMEOUT)
    finally:
        beat.set()
        await asyncio.to_thread(holder.join, TIMEOUT)
    assert outcome == [True]
    assert live_group_members(proc.pid) == []  # the session's processes were still ended
    assert await asyncio.wait_for(read_all(second.stdout), TIMEOUT) == b"second\n"
    await second.close()
