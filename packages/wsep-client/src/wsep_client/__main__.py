"""``wsep`` / ``python -m wsep_client``: run commands and copy files over wsep.

Nothing but argparse is imported up front (and not even that for ``wsep run``
through a control master); aiohttp and the SDK load when a command needs
them, so ``wsep --help`` is instant.

Exit codes: the remote command's own code, 128+N when signal N ended it,
124 on ``--timeout``, 127 when the command is not found, 126 when it cannot
be started for another reason (permission, working directory, policy), 255
for connection, authentication and protocol errors, 1 for a failed copy, 2
for usage errors.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "main"]

EPILOG = """\
environment: WSEP_URL (default for --url), WSEP_TOKEN (default for --token),
  WSEP_CONTROL (default for --control), WSEP_CONTROL_PERSIST (idle seconds of a control master)

examples:
  wsep run --url ws://host:8080 -- uname -a
  echo hi | wsep run -- cat
  wsep run -t -- bash
  wsep run -t --id work -- bash               (again later: reattaches, screen redrawn)
  wsep run --hosts hosts.toml:web -- uptime   (many servers; see below)
  wsep sessions list | info ID | end ID
  wsep cp ./data.tar ws://host:8080:/tmp/data.tar
  wsep cp :/var/log/syslog ./syslog          (host from WSEP_URL)
  wsep cp :/etc/hostname .                   (into a directory, as cp does)
  WSEP_CONTROL=auto wsep run -- true         (reuse a control master: fast repeated calls)
  wsep control status | stop
"""


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` gives it, without its import."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def _formatter() -> type[argparse.HelpFormatter]:
    import argparse

    class Formatter(argparse.RawDescriptionHelpFormatter):
        """Examples keep their lines; and no ``shutil`` import (~3 ms on every ``wsep``
        call, since argparse builds a formatter for each ``add_argument``)."""

        def __init__(
            self,
            prog: str,
            indent_increment: int = 2,
            max_help_position: int = 24,
            width: int | None = None,
        ) -> None:
            width = _columns() - 2 if width is None else width
            super().__init__(prog, indent_increment, max_help_position, width)

    return Formatter


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``only="run"`` builds just that command's (what ``wsep run`` needs:
    each sub-parser costs a millisecond or so of gettext look-ups)."""
    import argparse

    formatter = _formatter()
    parser = argparse.ArgumentParser(
        prog="wsep",
        description="Run commands on a wsep server, and copy files to and from it.",
        epilog=EPILOG,
        formatter_class=formatter,
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

    def add(name: str, help: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
        # Raw: the examples keep their lines (argparse reflows them otherwise).
        return sub.add_parser(name, help=help, epilog=epilog, formatter_class=formatter)

    def control(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--control",
            choices=("auto", "yes", "no"),
            default=None,
            help="through a control master: auto uses one and starts one for the next calls, "
            "yes waits for it to start, no never (default: $WSEP_CONTROL or no)",
        )

    from ._cli_fleet import HOSTS_HELP, add_fleet_arguments

    run = add("run", help="run a command remotely", epilog=EPILOG + HOSTS_HELP)
    common(run)
    control(run)
    run.add_argument("-t", "--tty", action="store_true", help="allocate a remote TTY")
    run.add_argument(
        "-n",
        "--no-stdin",
        action="store_true",
        help="send no input (as ssh -n); by default stdin is forwarded, a terminal's too",
    )
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
    if only == "run":
        return parser

    sessions = add("sessions", help="list, describe or end reattachable sessions (v2)")
    common(sessions)
    sessions.add_argument("what", nargs="?", choices=("list", "info", "end"), default="list")
    sessions.add_argument("id", nargs="?", default=None, help="session id (info, end)")

    ctl = add("control", help="start, stop or describe the control master for a server")
    common(ctl)
    ctl.add_argument("what", choices=("status", "start", "stop"))

    cp = add("cp", help="copy a file to or from the server")
    common(cp)
    cp.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check")
    cp.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
    cp.add_argument("source", help="LOCAL, or URL:REMOTE / :REMOTE")
    cp.add_argument("target", help="URL:REMOTE / :REMOTE, or LOCAL")
    return parser


#: ``_run_through_master`` did not apply: read the arguments with argparse.
_NOT_TRIED = -1
#: ... it tried the master, which said to run directly.
_DIRECT = -2


def _run_through_master(tokens: list[str]) -> int:
    """``wsep run`` through a control master without argparse: the exit code, or
    ``_NOT_TRIED``/``_DIRECT`` for the usual path."""
    from ._fast_args import parse_run

    args = parse_run(tokens)
    if args is None:
        return _NOT_TRIED
    mode = args.control or os.environ.get("WSEP_CONTROL") or "no"
    args.url = args.url or os.environ.get("WSEP_URL") or None
    args.token = args.token or os.environ.get("WSEP_TOKEN") or None
    if mode not in ("auto", "yes") or not args.url or "," in args.url:
        return _NOT_TRIED  # a fleet run (several URLs) goes through argparse
    from ._control_client import run_through_master

    code = run_through_master(args, mode)
    return _DIRECT if code is None else code


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    tried = False
    if given[:1] == ["run"]:
        code = _run_through_master(given[1:])
        if code >= 0:
            return code
        tried = code == _DIRECT
    parser = build_parser("run" if given[:1] == ["run"] else None)
    args = parser.parse_args(given)
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
        from ._cli_fleet import wants_fleet

        if wants_fleet(args):
            from ._cli_fleet import fleet_main

            return fleet_main(args, parser)
        if not args.url:
            parser.error("run: no server URL (use --url or set WSEP_URL)")
        mode = args.control or os.environ.get("WSEP_CONTROL") or "no"
        if mode not in ("auto", "yes", "no"):
            parser.error(f"WSEP_CONTROL={mode!r}: expected auto, yes or no")
        if mode != "no" and not tried:
            from ._control_client import run_through_master

            through = run_through_master(args, mode)
            if through is not None:
                return through
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
    if args.action == "control":
        if not args.url:
            parser.error("control: no server URL (use --url or set WSEP_URL)")
        from ._control_client import control_main

        return control_main(args)
    from ._cli_cp import cp_main

    return cp_main(args, parser)


if __name__ == "__main__":
    sys.exit(main())
