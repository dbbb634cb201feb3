"""``wsep run`` whose stdout nobody reads keeps its event loop turning: a SIGTERM to it
still ends the remote command while its output waits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from support.cli import start_wsep
from wsep_server import ServerConfig

pytestmark = pytest.mark.usefixtures("no_leaked_children")

WAIT = 60.0


async def _appears(path: Path) -> bool:
    async def go() -> None:
        while not path.exists():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(go(), WAIT)
    except asyncio.TimeoutError:
        return False
    return True


async def test_a_signal_gets_through_while_stdout_is_not_read(
    make_server: Callable[..., Awaitable[str]], tmp_path: Path
) -> None:
    # No heartbeat: only wsep itself, acting on the signal, can end the command in time.
    url = await make_server(config=ServerConfig(heartbeat=None))
    mark = tmp_path / "terminated"
    ready = tmp_path / "written"
    script = (
        f"trap 'echo term > {mark}; exit 3' TERM; "
        f"head -c 4000000 /dev/zero; echo > {ready}; while :; do sleep 1; done"
    )
    proc = await start_wsep("run", "--url", url, "--", "sh", "-c", script, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        # Much more than the pipe (and this side's buffer) holds: `wsep` waits to write.
        first = await asyncio.wait_for(proc.stdout.readexactly(1), WAIT)
        assert await _appears(ready)  # all of it has left the remote command
        proc.send_signal(signal.SIGTERM)  # handled only if wsep's event loop turns
        assert await _appears(mark), "the signal did not get through while stdout was full"
        rest = await asyncio.wait_for(proc.stdout.read(), WAIT)
        assert set(first + rest) == {0}
        assert await asyncio.wait_for(proc.wait(), WAIT) == 128 + signal.SIGTERM
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
