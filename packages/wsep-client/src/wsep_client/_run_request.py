"""What ``wsep run`` asks for, as plain data: built the same way directly and for a control master.

Plain dict, no dataclasses: the thin client imports this on every call.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ._fast_args import RunArgs

__all__ = ["request_fields"]


def request_fields(args: argparse.Namespace | RunArgs) -> dict[str, Any]:
    """The fields of ``_cli_run.RunRequest`` for the parsed ``wsep run`` arguments."""
    env = list(args.env)
    rows = cols = 0
    if args.tty:
        from ._tty import terminal_size

        rows, cols = terminal_size()
        term = os.environ.get("TERM")
        if term and not any(item.startswith("TERM=") for item in env):
            env.insert(0, f"TERM={term}")
    return {
        "argv": list(args.argv),
        "env": env,
        "cwd": args.cwd,
        "tty": bool(args.tty),
        "rows": rows,
        "cols": cols,
        "session_id": args.id,
        "timeout": args.timeout,
        # Like ssh: a terminal's input is forwarded too (``-n``: none at all).
        "send_stdin": not args.no_stdin,
    }
