"""Session recording: sessions written as asciicast v2 files (``asciinema play`` them).

The policy decides (``record = true`` for TTY sessions, ``record_pipes = true``
for the others) in its :class:`~wsep_server.policy.decision.StartDecision`;
:class:`RecordingExecer`, wrapped around the real execer, gets that decision
with the start (``start_decided``) and tees the terminal output into the file.
Without a TTY, stdout is written as ``"o"`` events and stderr as ``"e"`` events (players skip event
types they do not know, so a recording plays as its stdout). Files are written by a
background task through aiofiles, so the event loop never waits on the disk
beyond a bounded queue.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiofiles
from wsep_protocol import (
    DEFAULT_COLS,
    DEFAULT_ROWS,
    Buffer,
    ClosableExecer,
    Command,
    Execer,
    ExitStatus,
    FramedReader,
    Process,
    ProcessReader,
    ProcessWriter,
    ResolvingExecer,
)

from .policy.decision import StartDecision, StartRequest, start_decided
from .tasks import settle

__all__ = ["AsciicastEncoder", "Recorder", "RecordingExecer"]

_log = logging.getLogger("wsep_server.recording")


class AsciicastEncoder:
    """Formats asciicast v2 lines; output bytes are decoded as UTF-8 across chunk edges."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self._decoders: dict[str, codecs.IncrementalDecoder] = {}

    def header(
        self,
        *,
        width: int,
        height: int,
        timestamp: float,
        title: str = "",
        env: Mapping[str, str] | None = None,
    ) -> str:
        head: dict[str, Any] = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(timestamp),
        }
        if title:
            head["title"] = title
        if env:
            head["env"] = dict(env)
        return json.dumps(head, ensure_ascii=False) + "\n"

    def _elapsed(self, now: float | None) -> float:
        return round((time.monotonic() if now is None else now) - self.started, 6)

    def output(
        self, data: Buffer, now: float | None = None, *, final: bool = False, kind: str = "o"
    ) -> str:
        """An ``o`` (or ``kind``) event, or ``""`` when the bytes end mid-character (kept
        for the next one); each kind of event is decoded on its own."""
        decoder = self._decoders.get(kind)
        if decoder is None:
            decoder = self._decoders[kind] = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(bytes(data), final)
        if not text:
            return ""
        return json.dumps([self._elapsed(now), kind, text], ensure_ascii=False) + "\n"

    def flush(self) -> list[str]:
        """Events for whatever partial characters are left, one per kind."""
        return [
            line
            for kind in list(self._decoders)
            if (line := self.output(b"", final=True, kind=kind))
        ]

    def resize(self, rows: int, cols: int, now: float | None = None) -> str:
        return json.dumps([self._elapsed(now), "r", f"{cols}x{rows}"]) + "\n"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Recorder:
    """One asciicast file, written by a background task from a bounded queue."""

    def __init__(self, path: Path, header: str, encoder: AsciicastEncoder, *, queue: int = 256):
        self.path = path
        self.encoder = encoder
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(queue)
        self._queue.put_nowait(header)
        self._closed = False
        self._task = asyncio.create_task(self._write_all())

    async def _write_all(self) -> None:
        def opener(path: str, flags: int) -> int:
            return os.open(path, flags, 0o600)

        try:
            async with aiofiles.open(self.path, "x", encoding="utf-8", opener=opener) as f:
                while True:
                    line = await self._queue.get()
                    if line is None:
                        return
                    await f.write(line)
        except Exception:  # the recording is lost, never the session's output
            _log.exception("recording %s failed", self.path)
            while await self._queue.get() is not None:
                pass  # keep draining so producers never block

    async def output(self, data: Buffer, kind: str = "o") -> None:
        if not self._closed:
            line = self.encoder.output(data, kind=kind)
            if line:
                await self._queue.put(line)

    async def resize(self, rows: int, cols: int) -> None:
        if not self._closed:
            await self._queue.put(self.encoder.resize(rows, cols))

    async def close(self) -> None:
        """Flush what is left and close the file; idempotent."""
        if not self._closed:
            self._closed = True
            for tail in self.encoder.flush():
                await self._queue.put(tail)
            await self._queue.put(None)
        # Waiting does not cancel the writer; a cancellation of the caller propagates.
        await settle(self._task, _log, f"recording {self.path}")


class _TeeReader:
    """Passes the process's output through and hands a copy to the recorder.

    The recorder only observes: if it fails, the failure is logged once and
    recording stops; the output goes on. It is closed at the end of the last
    stream it records (or when the process is closed), so nothing a slower
    stream still carries is lost.
    """

    def __init__(
        self, inner: ProcessReader, recorder: Recorder, kind: str, open_streams: list[str]
    ) -> None:
        self._inner = inner
        #: The inner reader's fast path, if it has one (asked once, not per message).
        self._read_message = inner.read_message if isinstance(inner, FramedReader) else None
        self._recorder: Recorder | None = recorder
        self._kind = kind
        self._open = open_streams

    async def _record(self, data: Buffer) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            if data:
                await recorder.output(data, self._kind)
            else:
                if self._kind in self._open:
                    self._open.remove(self._kind)
                if not self._open:
                    await recorder.close()
        except Exception:
            self._recorder = None
            _log.exception("recording %s failed; the session goes on unrecorded", recorder.path)

    async def read(self, n: int = -1) -> bytes:
        data = await self._inner.read(n)
        await self._record(data)
        return data

    async def read_message(self, header: bytes, max_size: int) -> Buffer:
        read_message = self._read_message
        if read_message is None:
            data = await self.read(max_size - len(header))
            return header + data if data else b""
        message: Buffer = await read_message(header, max_size)
        await self._record(memoryview(message)[len(header) :] if message else b"")
        return message


class _RecordingProcess:
    """A process whose output (TTY, or stdout and stderr) and resizes are recorded;
    everything else passes through."""

    def __init__(self, inner: Process, recorder: Recorder, *, tty: bool) -> None:
        self._inner = inner
        self._recorder = recorder
        streams = ["o"] if tty else ["o", "e"]
        self._stdout = _TeeReader(inner.stdout, recorder, "o", streams)
        self._stderr: ProcessReader = (
            inner.stderr if tty else _TeeReader(inner.stderr, recorder, "e", streams)
        )

    @property
    def pid(self) -> int:
        return self._inner.pid

    @property
    def stdin(self) -> ProcessWriter:
        return self._inner.stdin

    @property
    def stdout(self) -> ProcessReader:
        return self._stdout

    @property
    def stderr(self) -> ProcessReader:
        return self._stderr

    async def wait(self) -> ExitStatus:
        return await self._inner.wait()

    async def resize(self, rows: int, cols: int) -> None:
        try:
            await self._recorder.resize(rows, cols)
        except Exception:  # an observer: the terminal is resized all the same
            _log.exception("recording %s: a resize failed", self._recorder.path)
        await self._inner.resize(rows, cols)

    async def send_signal(self, signum: int) -> None:
        await self._inner.send_signal(signum)

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            await self._recorder.close()


class RecordingExecer:
    """Wraps an execer; records the sessions the policy asked for into ``directory``."""

    def __init__(self, inner: Execer, directory: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def resolve(self, command: Command) -> str:
        """What the inner execer would run (the policy checks this)."""
        if isinstance(self.inner, ResolvingExecer):
            return self.inner.resolve(command)
        from .local import spawn

        return spawn.resolve(command)

    async def close(self) -> None:
        """Close the inner execer if it holds resources (a chained server's connection)."""
        if isinstance(self.inner, ClosableExecer):
            await self.inner.close()

    def file_for(self, identity: str | None, pid: int) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        who = _UNSAFE.sub("_", identity or "anonymous")[:64]
        return self.directory / f"{stamp}-{who}-{pid}-{secrets.token_hex(3)}.cast"

    async def start(self, command: Command) -> Process:
        """A start no policy decided on: not recorded."""
        return await self.inner.start(command)

    async def start_decided(self, request: StartRequest, decision: StartDecision) -> Process:
        """Start through the inner execer; recorded when ``decision.record`` says so."""
        process = await start_decided(self.inner, request, decision)
        if not decision.record:
            return process
        command = request.command
        rows = command.rows if 0 < command.rows < 65535 else DEFAULT_ROWS
        cols = command.cols if 0 < command.cols < 65535 else DEFAULT_COLS
        shell = decision.executable or self.resolve(command)
        encoder = AsciicastEncoder()
        header = encoder.header(
            width=cols,
            height=rows,
            timestamp=time.time(),
            title=" ".join(command.argv)[:200],
            env={"TERM": _term(command), "SHELL": shell} if command.tty else None,
        )
        recorder = Recorder(self.file_for(request.identity_name, process.pid), header, encoder)
        return _RecordingProcess(process, recorder, tty=command.tty)


def _term(command: Command) -> str:
    for entry in command.env:
        if entry.startswith("TERM="):
            return entry[5:]
    return os.environ.get("TERM", "xterm")
