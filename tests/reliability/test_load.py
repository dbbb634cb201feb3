"""Load: many concurrent SDK clients, each running many short commands back to back.

Every command's stdout, stderr and exit code are checked; zero failures allowed.
CI size: 100 clients x 10 commands; ``WSEP_FULL=1``: 1,000 x 100.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from support import scaled
from support.proc import wait_for_no_children, zombies
from support.reliability import Serve, record, work_timeout

CLIENTS = scaled(100, 1_000)
COMMANDS = scaled(10, 100)
SCRIPT = 'printf "%s" "$1"; printf "%s" "$2" >&2; exit "$3"'


# 300 runs/s on two quiet cores, 138 on two busy ones (7 ms each): 50 ms each is 7x that.
@pytest.mark.timeout(work_timeout(CLIENTS * COMMANDS, 0.05))
async def test_concurrent_clients_short_commands(no_leaked_children: None, serve: Serve) -> None:
    from wsep_client import RemoteExecer

    clients, commands = CLIENTS, COMMANDS
    url = await serve()
    delivered = {"runs": 0, "bytes": 0}

    async def client(c: int) -> None:
        async with RemoteExecer(url) as execer:
            for i in range(commands):
                out, err, code = f"out-{c}-{i}", f"err-{c}-{i}" * (i % 3), (c + i) % 256
                result = await asyncio.wait_for(
                    execer.run("sh", "-c", SCRIPT, "sh", out, err, str(code)), 120
                )
                assert (result.stdout, result.stderr, result.returncode) == (
                    out.encode(),
                    err.encode(),
                    code,
                ), (c, i, result)
                delivered["runs"] += 1
                delivered["bytes"] += len(result.stdout) + len(result.stderr)

    t0 = time.monotonic()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.monotonic() - t0
    assert delivered["runs"] == clients * commands
    assert await wait_for_no_children() == []
    assert zombies() == []
    record(
        "load",
        clients=clients,
        commands_each=commands,
        runs=delivered["runs"],
        failures=0,
        bytes=delivered["bytes"],
        seconds=round(elapsed, 2),
        runs_per_s=round(delivered["runs"] / elapsed, 1),
    )
