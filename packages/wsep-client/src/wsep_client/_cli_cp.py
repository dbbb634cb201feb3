"""``wsep cp``: copy one file to or from the server's host."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from typing import TextIO

from ._cli_common import die, execer_from_args, run_async

__all__ = ["cp_main", "parse_remote"]

# ws[s]://host[:port][/path]:REMOTE — the URL's path may not contain ':'.
_REMOTE = re.compile(r"^(wss?://(?:\[[^\]]+\]|[^/:\[\]]+)(?::\d+)?(?:/[^:]*)?):(.+)$", re.I)


def parse_remote(spec: str, default_url: str | None) -> tuple[str, str] | None:
    """``(url, path)`` for ``URL:PATH`` or ``:PATH``; None for a local path."""
    match = _REMOTE.match(spec)
    if match:
        return match.group(1), match.group(2)
    if spec.startswith(":") and len(spec) > 1:
        if not default_url:
            raise ValueError(f"{spec}: no server URL (give URL:PATH or set WSEP_URL)")
        return default_url, spec[1:]
    return None


#: Seconds between two redraws of the progress bar (at most ten a second).
REDRAW_INTERVAL = 0.1


class ProgressBar:
    """A one-line progress display on stderr (only used when it is a terminal).

    Each redraw fits the terminal's width at that moment (a wrapped line would
    scroll on every update) and comes at most every ``REDRAW_INTERVAL`` s.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.last = -REDRAW_INTERVAL
        self.redraws = 0
        self.finished = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < REDRAW_INTERVAL and done != total:
            return
        self.last = now
        self.redraws += 1
        self.stream.write("\r" + self.line(done, total, now - self.start) + "\x1b[K")
        self.stream.flush()

    def line(self, done: int, total: int | None, elapsed: float) -> str:
        """The bar as it fits the terminal (the label is shortened first, then the bar)."""
        columns = max(20, _columns(self.stream) - 1)  # the last column would wrap on some terminals
        rate = done / max(elapsed, 1e-6)
        if total:
            pct = min(100.0, 100.0 * done / total)
            numbers = f" {pct:5.1f}% {_size(done)}/{_size(total)} {_size(rate)}/s"
        else:
            pct = None
            numbers = f" {_size(done)} {_size(rate)}/s"
        label = self.label
        room = columns - len(numbers)
        bar_width = min(24, room - 3 - 12) if pct is not None else 0  # " [" + "]" + a label
        bar = ""
        if pct is not None and bar_width >= 5:
            filled = int(bar_width * pct / 100)
            bar = " [" + "#" * filled + "-" * (bar_width - filled) + "]"
        room -= len(bar)
        if len(label) > room:
            label = "…" + label[-(room - 1) :] if room > 1 else ""
        return (label + bar + numbers)[:columns]

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.stream.write("\n")
            self.stream.flush()


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size().columns


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cp_main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        source = parse_remote(args.source, args.url)
        target = parse_remote(args.target, args.url)
    except ValueError as exc:
        return die(str(exc), 2)
    if (source is None) == (target is None):
        parser.error("cp: exactly one of SOURCE and TARGET must be remote (URL:PATH or :PATH)")
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    return run_async(_cp(args, source, target, show))


async def _cp(
    args: argparse.Namespace,
    source: tuple[str, str] | None,
    target: tuple[str, str] | None,
    show: bool,
) -> int:
    from .errors import TransferError
    from .transfer import download, upload

    remote = source or target
    assert remote is not None
    url, path = remote
    bar = ProgressBar(args.source if target else path) if show else None
    try:
        async with execer_from_args(args, url) as execer:
            if target is not None:
                await upload(execer, args.source, path, progress=bar, verify=not args.no_verify)
            else:
                await download(execer, path, args.target, progress=bar, verify=not args.no_verify)
    except TransferError as exc:
        return die(str(exc), 1)
    except OSError as exc:  # a local file problem the transfer did not name
        return die(f"{exc.filename or args.target}: {exc.strerror or exc}", 1)
    finally:
        if bar is not None:
            bar.finish()
    return 0
