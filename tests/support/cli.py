"""Running the real ``wsep`` console script, as a user would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

__all__ = [
    "WSEP_COMMAND",
    "assert_ctrl_c_is_forwarded",
    "cli_env",
    "one_line",
    "start_wsep",
    "wsep",
]

_SCRIPT = os.path.join(os.path.dirname(sys.executable), "wsep")
#: The console script next to this interpreter, else the module (an uninstalled checkout).
WSEP_COMMAND = [_SCRIPT] if os.path.exists(_SCRIPT) else [sys.executable, "-m", "wsep_client"]


def cli_env(env: dict[str, str] | None = None, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This environment without ``WSEP_*`` settings (nor names starting with ``drop``),
    plus ``env``: a test sees only the settings it gives."""
    prefixes = ("WSEP_", *drop)
    out = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    out.update(env or {})
    return out


async def start_wsep(
    *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> asyncio.subprocess.Process:
    """Start ``wsep ARGS`` (stdin, stdout and stderr piped unless ``kwargs`` say otherwise);
    this loop keeps serving an in-process server meanwhile."""
    for stream in ("stdin", "stdout", "stderr"):
        kwargs.setdefault(stream, subprocess.PIPE)
    return await asyncio.create_subprocess_exec(
        *WSEP_COMMAND, *args, env=cli_env() if env is None else env, **kwargs
    )


async def wsep(
    *args: str, input: bytes = b"", env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, bytes, bytes]:
    """Run ``wsep ARGS`` to its end: (exit code, stdout, stderr)."""
    proc = await start_wsep(*args, env=cli_env(env))
    out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    assert proc.returncode is not None
    return proc.returncode, out, err


def one_line(err: bytes) -> str:
    """The CLI's error: one ``wsep: ...`` line, never a traceback."""
    text = err.decode()
    assert text.count("\n") == 1, text
    assert text.startswith("wsep: "), text
    assert "Traceback" not in text
    return text


async def assert_ctrl_c_is_forwarded(*run_args: str, env: dict[str, str], timeout: float) -> None:
    """``wsep run RUN_ARGS -- <script>``, Ctrl-C once it runs: the remote trap answers."""
    script = "trap 'echo got-int; exit 7' INT; echo ready; sleep 60 & wait"
    proc = await start_wsep(
        "run", *run_args, "--", "sh", "-c", script, env=env, stdin=subprocess.DEVNULL, stderr=None
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), timeout) == b"ready\n"
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.stdout.read(), timeout) == b"got-int\n"
    assert await asyncio.wait_for(proc.wait(), timeout) == 7
