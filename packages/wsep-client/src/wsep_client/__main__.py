"""``wsep`` / ``python -m wsep_client``: run commands and copy files over wsep.

Only argparse is imported up front; aiohttp and the SDK load when a command
needs them, so ``wsep --help`` is instant.

Exit codes: the remote command's own code, 128+N when signal N ended it,
124 on ``--timeout``, 127 when the command is not found, 126 when it cannot
be started for another reason (permission, working directory, policy), 255
for connection, authentication and protocol errors, 1 for a failed copy, 2
for usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._cli_fleet import HOSTS_HELP, add_fleet_arguments, wants_fleet

__all__ = ["build_parser", "main"]

EPILOG = """\
environment: WSEP_URL (default for --url), WSEP_TOKEN (default for --token)

examples:
  wsep run --url ws://host:8080 -- uname -a
  echo hi | wsep run -- cat
  wsep run -t -- bash
  wsep run -t --id work -- bash               (again later: reattaches, screen redrawn)
  wsep run --hosts hosts.toml:web -- uptime   (many servers; see below)
  wsep sessions list | info ID | end ID
  wsep cp ./data.tar ws://host:8080:/tmp/data.tar
  wsep cp :/var/log/syslog ./syslog          (host from WSEP_URL)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsep",
        description="Run commands on a wsep server, and copy files to and from it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="wsep 0.1.0")
    sub = parser.add_subparsers(dest="action", metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=None, help="server URL (default: $WSEP_URL)")
        p.add_argument("--token", default=None, help="bearer token (default: $WSEP_TOKEN)")
        p.add_argument("--v1", action="store_true", help="speak protocol v1 only (no extensions)")
        p.add_argument(
            "--cacert", default=None, metavar="FILE", help="trust this CA for wss:// (PEM)"
        )
        p.add_argument(
            "--insecure", action="store_true", help="do not verify the server's TLS certificate"
        )

    run = sub.add_parser(
        "run",
        help="run a command remotely",
        epilog=EPILOG + HOSTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(run)
    run.add_argument("-t", "--tty", action="store_true", help="allocate a remote TTY")
    run.add_argument(
        "--id",
        default="",
        help="session id: with -t a reattachable TTY session (the same id again reattaches)",
    )
    run.add_argument(
        "-e", "--env", action="append", default=[], metavar="K=V", help="set an env variable"
    )
    run.add_argument("--cwd", default=None, metavar="DIR", help="remote working directory")
    run.add_argument("--timeout", type=float, default=None, metavar="S", help="end after S s")
    add_fleet_arguments(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")

    sessions = sub.add_parser(
        "sessions", help="list, describe or end reattachable sessions (v2)", epilog=EPILOG
    )
    common(sessions)
    sessions.add_argument("what", nargs="?", choices=("list", "info", "end"), default="list")
    sessions.add_argument("id", nargs="?", default=None, help="session id (info, end)")

    cp = sub.add_parser("cp", help="copy a file to or from the server", epilog=EPILOG)
    common(cp)
    cp.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check")
    cp.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
    cp.add_argument("source", help="LOCAL, or URL:REMOTE / :REMOTE")
    cp.add_argument("target", help="URL:REMOTE / :REMOTE, or LOCAL")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.action is None:
        parser.print_help(sys.stderr)
        return 2
    args.url = args.url or os.environ.get("WSEP_URL") or None
    args.token = args.token or os.environ.get("WSEP_TOKEN") or None
    if args.action == "run":
        argv_ = list(args.argv)
        if argv_ and argv_[0] == "--":
            argv_ = argv_[1:]
        if not argv_:
            parser.error("run: no command given (wsep run [options] -- CMD [ARGS...])")
        for item in args.env:
            if "=" not in item or item.startswith("="):
                parser.error(f"-e {item!r}: expected K=V")
        args.argv = argv_
        if wants_fleet(args):
            from ._cli_fleet import fleet_main

            return fleet_main(args, parser)
        if not args.url:
            parser.error("run: no server URL (use --url or set WSEP_URL)")
        from ._cli_run import run_main

        return run_main(args)
    if args.action == "sessions":
        if args.what == "list" and args.id is not None:
            parser.error("sessions list: takes no id")
        if args.what != "list" and not args.id:
            parser.error(f"sessions {args.what}: no session id given")
        if not args.url:
            parser.error("sessions: no server URL (use --url or set WSEP_URL)")
        from ._cli_sessions import sessions_main

        return sessions_main(args)
    from ._cli_cp import cp_main

    return cp_main(args, parser)


if __name__ == "__main__":
    sys.exit(main())
