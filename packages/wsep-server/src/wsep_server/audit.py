"""The audit log: one JSON line when a connection starts its process and one when it ends.

A :class:`~wsep_server.hooks.ConnectionObserver`. Lines are queued and written by
a background task through aiofiles, so the event loop never waits on the disk
(the queue is bounded: a stuck disk slows connections down, it never eats memory).
On SIGHUP the file is reopened, for logrotate. Lines carry who, from where,
what, how it ended and how many bytes moved, never credentials and never
stdin contents; anything token-shaped in argv is scrubbed as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiofiles

from .auth.scrub import scrub
from .hooks import ConnectionRecord

__all__ = ["AuditLog", "audit_fields", "on_sighup"]

_log = logging.getLogger("wsep_server.audit")

#: Identity attributes that may appear in the log (how and where it was proven).
_SAFE_ATTRIBUTES = ("auth", "via", "subject", "issuer", "serial")


def _iso(ts: float | None) -> str | None:
    if ts is None or ts == 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def audit_fields(event: str, record: ConnectionRecord) -> dict[str, Any]:
    """The JSON object of one audit line (``event`` is ``start`` or ``end``)."""
    identity = record.identity
    out: dict[str, Any] = {
        "event": event,
        "time": _iso(time.time()),
        "session": record.id,
        "client_id": record.client_id,
        "identity": None if identity is None else identity.name,
        "auth": None,
        "peer": record.peer,
        "argv": list(record.argv),
        "cwd": record.cwd,
        "tty": record.tty,
        "pid": record.pid,
        "protocol": record.protocol_version,
        "started": _iso(record.started),
    }
    if identity is not None:
        attributes = {
            k: identity.attributes[k] for k in _SAFE_ATTRIBUTES if k in identity.attributes
        }
        out["auth"] = attributes or None
    limits = record.limits
    out["limits"] = {
        "max_duration": limits.max_duration,
        "max_output_bytes": limits.max_output_bytes,
        "record": record.recorded,
    }
    if event == "end":
        status = record.exit_status
        duration = record.duration
        out.update(
            ended=_iso(record.ended if record.ended is not None else time.time()),
            duration=None if duration is None else round(duration, 6),
            exit_code=None if status is None else status.code,
            signal=None if status is None else status.signal,
            exit=None if status is None else (status.error or "exit status 0"),
            bytes_in=record.bytes_in,
            bytes_out=record.bytes_out,
            end_reason=record.end_reason,
            close_code=record.close_code,
        )
    return out


_REOPENERS: list[Callable[[], None]] = []


def on_sighup(
    callback: Callable[[], None], loop: asyncio.AbstractEventLoop | None = None
) -> Callable[[], None]:
    """Call ``callback`` on SIGHUP (with every other registered one); main thread only.

    Returns a function that unregisters it again.
    """
    running = loop or asyncio.get_running_loop()

    def fire() -> None:
        for reopen in list(_REOPENERS):
            reopen()

    running.add_signal_handler(signal.SIGHUP, fire)
    _REOPENERS.append(callback)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _REOPENERS.remove(callback)
        if not _REOPENERS:
            with contextlib.suppress(RuntimeError, ValueError):
                running.remove_signal_handler(signal.SIGHUP)

    return remove


class AuditLog:
    """Appends JSON lines to ``path``; use as an observer, ``await close()`` at shutdown."""

    def __init__(self, path: str | os.PathLike[str], *, queue: int = 10_000) -> None:
        self.path = Path(path)
        self._queue: asyncio.Queue[str | None] | None = None
        self._maxsize = queue
        self._task: asyncio.Task[None] | None = None
        self._reopen = False
        self.written = 0
        self._progress: asyncio.Condition | None = None
        self._unregister: Callable[[], None] | None = None

    # --- observer -----------------------------------------------------------

    async def on_start(self, record: ConnectionRecord) -> None:
        await self._put(audit_fields("start", record))

    async def on_end(self, record: ConnectionRecord) -> None:
        await self._put(audit_fields("end", record))

    # --- life cycle ---------------------------------------------------------

    def reopen(self) -> None:
        """Close and reopen the file before the next line (after logrotate moved it)."""
        self._reopen = True

    def install_sighup_handler(self) -> None:
        """Reopen on SIGHUP until :meth:`close` (call from the event loop's thread)."""
        if self._unregister is None:
            self._unregister = on_sighup(self.reopen)

    async def start(self, app: object = None) -> None:
        """Start the writer (also done lazily by the first line); usable as ``on_startup``."""
        if self._task is None:
            self._queue = asyncio.Queue(self._maxsize)
            self._progress = asyncio.Condition()
            self._task = asyncio.create_task(self._writer())

    async def close(self, app: object = None) -> None:
        """Write what is queued, then stop; usable as ``on_cleanup``."""
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._task is None or self._queue is None:
            return
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def wait_written(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` lines in total were written (for tests and shutdown)."""
        await self.start()
        assert self._progress is not None
        progress = self._progress

        async def wait() -> None:
            async with progress:
                await progress.wait_for(lambda: self.written >= count)

        await asyncio.wait_for(wait(), timeout)

    async def _put(self, fields: dict[str, Any]) -> None:
        await self.start()
        assert self._queue is not None
        line = scrub(json.dumps(fields, ensure_ascii=False, default=str)) + "\n"
        await self._queue.put(line)

    async def _writer(self) -> None:
        assert self._queue is not None
        assert self._progress is not None
        queue = self._queue
        f: Any = None
        try:
            while True:
                line = await queue.get()
                if line is None:
                    return
                if f is not None and self._reopen:
                    await f.close()
                    f = None
                if f is None:
                    self._reopen = False
                    f = await self._open()
                if f is not None:
                    try:
                        await f.write(line)
                        await f.flush()
                    except OSError:
                        _log.exception("audit log %s: write failed", self.path)
                async with self._progress:
                    self.written += 1
                    self._progress.notify_all()
        finally:
            if f is not None:
                await f.close()

    async def _open(self) -> Any:
        def opener(path: str, flags: int) -> int:
            fd = os.open(path, flags, 0o600)
            if os.fstat(fd).st_mode & 0o077:  # an existing file (or logrotate's) stays private
                os.fchmod(fd, 0o600)
            return fd

        try:
            return await aiofiles.open(self.path, "a", encoding="utf-8", opener=opener)
        except OSError:
            _log.exception("audit log %s: cannot open", self.path)
            return None
