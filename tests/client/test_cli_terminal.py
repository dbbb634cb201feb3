"""``wsep run`` with a terminal on stdin (forwarded like ssh; ``-n`` sends none) and ``--help``."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys

import pytest
from support.cli import WSEP_COMMAND, cli_env, start_wsep

# End to end through real CLI processes and masters: one interpreter is enough (nox).
pytestmark = [pytest.mark.usefixtures("no_leaked_children"), pytest.mark.once]


async def test_a_terminal_on_stdin_is_forwarded(url: str) -> None:
    main, secondary = pty.openpty()
    try:
        proc = await start_wsep(
            "run", "--url", url, "--", "sh", "-c", "echo ready; cat", stdin=secondary
        )
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
        os.write(main, b"typed line\n")
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"typed line\n"
        os.write(main, b"\x04")  # Ctrl-D: end of input, as in a local `cat`
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        os.close(main)
        os.close(secondary)


async def test_no_stdin_flag_sends_nothing(url: str) -> None:
    main, secondary = pty.openpty()
    try:
        proc = await start_wsep("run", "-n", "--url", url, "--", "cat", stdin=secondary)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)  # cat sees EOF at once
        assert (proc.returncode, out) == (0, b"")
    finally:
        os.close(main)
        os.close(secondary)


@pytest.mark.parametrize("command", ["run", "cp", "sessions", "control"])
def test_help_keeps_the_examples_as_written(command: str) -> None:
    done = subprocess.run(
        [*WSEP_COMMAND, command, "--help"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert done.returncode == 0
    assert "\n  wsep run -t -- bash\n" in done.stdout
    assert "\n  echo hi | wsep run -- cat\n" in done.stdout


def test_auth_help_shows_its_examples_without_markup() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wsep_server.auth", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "::" not in done.stdout
    assert "\n    python -m wsep_server.auth gen-token " in done.stdout
