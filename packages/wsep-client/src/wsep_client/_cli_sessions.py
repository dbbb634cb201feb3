"""``wsep sessions [list | info ID | end ID]``: manage reattachable sessions (v2)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from wsep_protocol.sessions import NoSuchSession, SessionDescription

from ._cli_common import die, execer_from_args, run_async

__all__ = ["sessions_main"]

#: Exit code for an unknown session id.
EXIT_NO_SUCH_SESSION = 1


def sessions_main(args: argparse.Namespace) -> int:
    return run_async(_sessions(args))


async def _sessions(args: argparse.Namespace) -> int:
    async with execer_from_args(args) as execer:
        try:
            if args.what == "list":
                _print_list(await execer.list_sessions())
            elif args.what == "info":
                _print_info(await execer.session_info(args.id))
            else:
                await execer.end_session(args.id)
        except NoSuchSession:
            return die(f"no session {args.id!r}", EXIT_NO_SUCH_SESSION)
    return 0


def _age(since: float) -> str:
    seconds = max(0, int(time.time() - since))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _kind(s: SessionDescription) -> str:
    return "tty" if s.tty else ("job" if s.resumable else "-")


def _print_list(sessions: tuple[SessionDescription, ...]) -> None:
    rows = [("ID", "KIND", "STATE", "PID", "CLIENTS", "AGE", "COMMAND")]
    for s in sessions:
        state = s.state if s.exit_code is None else f"{s.state}({s.exit_code})"
        rows.append(
            (
                s.id,
                _kind(s),
                state,
                str(s.pid),
                str(len(s.clients)),
                _age(s.created),
                shlex.join(s.argv),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        sys.stdout.write("  ".join([*cells, r[-1]]).rstrip() + "\n")


def _print_info(s: SessionDescription) -> None:
    lines = [
        ("id", s.id),
        ("command", shlex.join(s.argv)),
        ("kind", _kind(s)),
        ("state", s.state),
        ("exit code", "" if s.exit_code is None else str(s.exit_code)),
        ("pid", str(s.pid)),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created))),
        ("owner", s.owner or "(anonymous)"),
        ("size", f"{s.rows}x{s.cols}" if s.tty else ""),
    ]
    for c in s.clients:
        mode = "read-only" if c.read_only else "interactive"
        lines.append(("client", f"{c.peer} {mode} since {_age(c.since)} ago"))
    for key, value in lines:
        if value:
            sys.stdout.write(f"{key + ':':<11}{value}\n")
