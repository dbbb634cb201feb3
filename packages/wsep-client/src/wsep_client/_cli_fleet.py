"""``wsep run --hosts FILE[:GROUP]`` / ``--url URL,URL``: one command on many servers.

Output lines are prefixed with the target's name as they arrive (as pdsh
does), or, with ``--group``, each target's output is printed together at the
end. A summary goes to stderr. The exit status is the largest of the targets'
own: their exit codes (128+N for signal N), 124 for a timeout, 126/127 when
the command could not be started, 255 when a target was unreachable (no
connection, refused credentials, connection lost).

Only argparse is imported at parse time; the SDK loads in :func:`fleet_main`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fleet import FleetResults, TargetResult
    from .inventory import Inventory, Target

__all__ = ["add_fleet_arguments", "fleet_main", "wants_fleet"]

HOSTS_HELP = """
many servers (wsep run --hosts hosts.toml:web -- uptime):
  --hosts FILE[:GROUP]   a TOML inventory (see the client README), optionally
                         only the targets of GROUP (a group, a name, or key=value
                         of their labels); or comma-separated URLs
  --url URL,URL,...      the same as --hosts with URLs
  exit status: the largest of the targets' (exit code, 128+N for signal N),
  124 if one timed out, 126/127 if the command could not start, 255 if a
  target was unreachable
"""

_COLOURS = ("36", "33", "35", "32", "34", "31")


def add_fleet_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("many servers")
    group.add_argument(
        "--hosts", default=None, metavar="FILE[:GROUP]|URL,URL", help="run on these targets"
    )
    group.add_argument(
        "--group",
        action="store_true",
        help="print each target's output together at the end, not line by line",
    )
    group.add_argument(
        "--concurrency", type=int, default=32, metavar="N", help="targets at once (32)"
    )


def wants_fleet(args: argparse.Namespace) -> bool:
    return bool(args.hosts) or "," in (args.url or "")


def fleet_main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.tty or args.id:
        parser.error("run: -t and --id work with one server, not with --hosts")
    if args.concurrency < 1:
        parser.error("run: --concurrency must be at least 1")
    from ._cli_common import die, run_async
    from .inventory import InventoryError

    try:
        inventory = _inventory(args)
    except InventoryError as exc:
        return die(str(exc), 2)
    return run_async(_run(args, inventory))


def _inventory(args: argparse.Namespace) -> Inventory:
    from dataclasses import replace

    from .inventory import Inventory, InventoryError

    spec: str = args.hosts or args.url
    if "://" in spec:
        urls = [u.strip() for u in spec.split(",") if u.strip()]
        inventory = Inventory.from_urls(urls)
    else:
        path, selector = spec, "all"
        if not os.path.exists(spec) and ":" in spec:
            path, _, selector = spec.rpartition(":")
        inventory = Inventory.load(path).select(selector or "all")
    if not len(inventory):
        raise InventoryError("no targets")

    def defaults(target: Target) -> Target:
        # Command-line credentials and TLS fill in what the inventory leaves open.
        if target.token is None and target.token_file is None and args.token:
            target = replace(target, token=args.token)
        if target.cafile is None and args.cacert:
            target = replace(target, cafile=args.cacert)
        if args.insecure:
            target = replace(target, insecure=True)
        return target

    return Inventory(defaults(t) for t in inventory)


async def _run(args: argparse.Namespace, inventory: Inventory) -> int:
    import asyncio
    import signal

    from wsep_protocol import ProtocolVersion

    from ._local_stdin import stdin_chunks
    from .fleet import Fleet

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        caught.append(signum)
        main.cancel()

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, int(signum))
    printer = _Printer(inventory, colour=_use_colour())
    version = ProtocolVersion.V1 if args.v1 else ProtocolVersion.V2
    fleet = Fleet(inventory, concurrency=args.concurrency, timeout=args.timeout, version=version)
    options: dict[str, Any] = {"env": list(args.env), "cwd": args.cwd}
    try:
        if not os.isatty(0):
            # Sent to every target as it comes; read whole first when not all run at once.
            chunks = stdin_chunks()
            streams = fleet.streams_stdin()
            options["input"] = chunks if streams else b"".join([c async for c in chunks])
        async with fleet:
            if args.group:
                results = await fleet.run(*args.argv, **options)
                printer.grouped(results)
            else:
                async with fleet.stream(*args.argv, **options) as lines:
                    async for line in lines:
                        printer.line(line.target, line.stream, line.data)
                assert lines.results is not None
                results = lines.results
    except asyncio.CancelledError:
        if not caught:
            raise
        sys.stderr.write("wsep: interrupted: remote processes ended\n")
        return 128 + caught[0]
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    printer.summary(results)
    return max((_exit_code(r) for r in results.values()), default=0)


def _use_colour() -> bool:
    return os.isatty(1) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _exit_code(result: TargetResult) -> int:
    from ._cli_common import exit_code_for

    if result.error is not None:
        return exit_code_for(result.error)
    assert result.result is not None
    return result.result.shell_code or 0


def _describe(result: TargetResult) -> str:
    if result.error is not None:
        kind = "unreachable: " if result.unreachable else ""
        return kind + " ".join(str(result.error).split())
    assert result.result is not None
    if result.result.exit_signal is not None:
        from wsep_protocol import signal_name

        return f"killed by {signal_name(result.result.exit_signal)}"
    return f"exit {result.result.returncode}"


class _Printer:
    """Writes what targets print, prefixed with their name, coloured on a terminal."""

    def __init__(self, inventory: Inventory, *, colour: bool) -> None:
        self._colour = colour
        width = max(len(t.name) for t in inventory)
        self._prefix = {
            t.name: self._paint(f"{t.name:<{width}}", _COLOURS[i % len(_COLOURS)]) + " | "
            for i, t in enumerate(inventory)
        }

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._colour else text

    def line(self, target: Target, stream: str, data: bytes) -> None:
        out = sys.stdout if stream == "stdout" else sys.stderr
        if not data.endswith(b"\n"):
            data += b"\n"
        out.flush()
        out.buffer.write(self._prefix[target.name].encode() + data)
        out.flush()

    def grouped(self, results: FleetResults) -> None:
        for result in results.values():
            state = "32" if result.ok else "31"
            header = f"== {result.target.name}: {_describe(result)}"
            sys.stdout.write(self._paint(header, state) + "\n")
            sys.stdout.flush()
            if result.result is not None:
                sys.stdout.buffer.write(_terminated(result.result.stdout))
                sys.stdout.flush()
                sys.stderr.buffer.write(_terminated(result.result.stderr))
                sys.stderr.flush()

    def summary(self, results: FleetResults) -> None:
        ok = len(results.succeeded)
        failed = [r for r in results.failed if not r.unreachable]
        unreachable = results.unreachable
        parts = [f"{ok} ok"]
        if failed:
            parts.append(f"{len(failed)} failed")
        if unreachable:
            parts.append(f"{len(unreachable)} unreachable")
        lines = [f"wsep: {len(results)} targets: {', '.join(parts)}"]
        lines += [f"wsep:   {r.target.name}: {_describe(r)}" for r in [*failed, *unreachable]]
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


def _terminated(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"
