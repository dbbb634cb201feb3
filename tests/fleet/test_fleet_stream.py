"""Streaming fleet runs: lines as they arrive, live stdin to all, cancellation ends everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support.proc import wait_until_gone
from wsep_client import Fleet, Inventory, Line

pytestmark = pytest.mark.usefixtures("no_leaked_children")


async def test_lines_arrive_tagged_with_target_and_stream(fleet_urls: list[str]) -> None:
    inventory = Inventory.from_urls(fleet_urls)
    long = "x" * 200_000
    script = "echo one; echo two >&2; head -c 200000 /dev/zero | tr '\\0' x; echo; printf tail"
    got: list[Line] = []
    async with Fleet(inventory) as fleet, fleet.stream("sh", "-c", script) as lines:
        async for line in lines:
            got.append(line)
    assert lines.results is not None
    assert len(lines.results.succeeded) == 3
    for target in inventory:
        out = [line.data for line in got if line.target == target and line.stream == "stdout"]
        err = [line.data for line in got if line.target == target and line.stream == "stderr"]
        assert out[0] == b"one\n"
        assert out[-1] == b"tail"
        assert b"".join(out) == b"one\n" + long.encode() + b"\ntail"
        assert max(len(piece) for piece in out) <= 1 << 16  # a long line comes in pieces
        assert err == [b"two\n"]


async def test_live_stdin_goes_to_every_target(fleet_urls: list[str]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(20):
            yield f"chunk {i}\n".encode()

    out: dict[str, list[bytes]] = {}
    inventory = Inventory.from_urls(fleet_urls)
    async with Fleet(inventory) as fleet, fleet.stream("cat", input=chunks()) as lines:
        async for target, _stream, data in lines:
            out.setdefault(target.name, []).append(data)
    expected = [f"chunk {i}\n".encode() for i in range(20)]
    assert out == {t.name: expected for t in inventory}


async def test_streamed_stdin_needs_all_targets_at_once(fleet_urls: list[str]) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    async with Fleet(Inventory.from_urls(fleet_urls), concurrency=2) as fleet:
        with pytest.raises(ValueError, match="concurrency 2 < 3 targets"):
            fleet.stream("cat", input=nothing())


async def test_cancelling_a_run_ends_every_remote_process(fleet_urls: list[str]) -> None:
    pids: list[int] = []
    all_started = asyncio.Event()

    async def watch() -> None:
        fleet = Fleet(Inventory.from_urls(fleet_urls))
        async with fleet, fleet.stream("sh", "-c", "echo $$; exec sleep 60") as lines:
            async for line in lines:
                pids.append(int(line.data))
                if len(pids) == 3:
                    all_started.set()

    task = asyncio.ensure_future(watch())
    await asyncio.wait_for(all_started.wait(), 60)
    task.cancel()  # as Ctrl-C in asyncio.run does
    with pytest.raises(asyncio.CancelledError):
        await task
    for pid in pids:
        assert await wait_until_gone(pid) == []


async def test_leaving_the_iteration_early_ends_the_rest(fleet_urls: list[str]) -> None:
    fleet = Fleet(Inventory.from_urls(fleet_urls))
    async with fleet, fleet.stream("sh", "-c", "echo $$; exec sleep 60") as lines:
        async for line in lines:
            pid = int(line.data)
            break
    assert await wait_until_gone(pid) == []
