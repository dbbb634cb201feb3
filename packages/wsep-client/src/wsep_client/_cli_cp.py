"""``wsep cp``: copy one file to or from the server's host."""

from __future__ import annotations

import argparse
import re
import sys
import time

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


class ProgressBar:
    """A one-line progress display on stderr (only used when it is a terminal)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done != total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6)
        if total:
            pct = min(100.0, 100.0 * done / total)
            width = 24
            filled = int(width * pct / 100)
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.label} [{bar}] {pct:5.1f}% {_size(done)}/{_size(total)} {_size(rate)}/s"
        else:
            text = f"{self.label} {_size(done)} {_size(rate)}/s"
        sys.stderr.write("\r" + text[:200] + "\x1b[K")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


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
        if bar is not None:
            bar.finish()
        return die(str(exc), 1)
    if bar is not None:
        bar.finish()
    return 0
