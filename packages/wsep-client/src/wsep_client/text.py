"""Text mode for ``create_process``: the same process, with ``str`` streams.

``asyncio.subprocess`` has no text mode; ``subprocess`` and asyncssh do
(``text=True``, ``encoding=``, ``errors=``). :class:`TextProcess` wraps a
:class:`RemoteProcess` and decodes its output incrementally (a character
split across two messages is decoded once whole) and encodes its input.
"""

from __future__ import annotations

import asyncio
import codecs

from wsep_protocol import ExitStatus

from .process import RemoteProcess
from .streams import RemoteStdin, RemoteStreamReader

__all__ = ["TextProcess", "TextReader", "TextWriter"]


class TextReader:
    """``stdout``/``stderr`` in text mode: ``read``, ``readline`` and ``async for`` give ``str``."""

    def __init__(self, reader: RemoteStreamReader, encoding: str, errors: str) -> None:
        self._reader = reader
        self._decoder = codecs.getincrementaldecoder(encoding)(errors)

    def _decode(self, data: bytes) -> str:
        return self._decoder.decode(data, final=not data)

    async def read(self, n: int = -1) -> str:
        """Up to ``n`` bytes' worth of text (all of it for -1); ``""`` at the end."""
        while True:
            data = await self._reader.read(n)
            text = self._decode(data)
            if text or not data:
                return text  # a lone partial character: read on

    async def readline(self) -> str:
        return self._decode(await self._reader.readline())

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    def __aiter__(self) -> TextReader:
        return self

    async def __anext__(self) -> str:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line


class TextWriter:
    """``stdin`` in text mode: ``write`` takes ``str``."""

    def __init__(self, stdin: RemoteStdin, encoding: str, errors: str) -> None:
        self._stdin = stdin
        self._encoder = codecs.getincrementalencoder(encoding)(errors)

    def write(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"text-mode stdin takes str, not {type(text).__name__}")
        self._stdin.write(self._encoder.encode(text))

    async def drain(self) -> None:
        await self._stdin.drain()

    def close(self) -> None:
        tail = self._encoder.encode("", final=True)
        if tail:
            self._stdin.write(tail)
        self._stdin.close()


class TextProcess:
    """A :class:`RemoteProcess` whose ``stdin``/``stdout``/``stderr`` speak ``str``.

    Everything else is the process's own: ``wait()``, ``returncode``,
    ``exit_status``, signals, ``resize``, ``close()``; ``process`` is the
    binary process itself.
    """

    def __init__(self, process: RemoteProcess, encoding: str, errors: str) -> None:
        self.process = process
        self.encoding = encoding
        self.errors = errors
        self.stdin = TextWriter(process.stdin, encoding, errors)
        self.stdout = TextReader(process.stdout, encoding, errors)
        self.stderr = TextReader(process.stderr, encoding, errors)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def exit_status(self) -> ExitStatus | None:
        return self.process.exit_status

    @property
    def termination_reason(self) -> str | None:
        return self.process.termination_reason

    async def wait(self) -> int:
        return await self.process.wait()

    async def communicate(self, input: str | None = None) -> tuple[str, str]:
        """As :meth:`RemoteProcess.communicate`, with ``str`` in and out."""
        data = None if input is None else input.encode(self.encoding, self.errors)
        out, err = await self.process.communicate(data)
        return out.decode(self.encoding, self.errors), err.decode(self.encoding, self.errors)

    def send_signal(self, signum: int) -> asyncio.Future[None]:
        return self.process.send_signal(signum)

    def terminate(self) -> asyncio.Future[None]:
        return self.process.terminate()

    def kill(self) -> asyncio.Future[None]:
        return self.process.kill()

    def resize(self, rows: int, cols: int) -> asyncio.Future[None]:
        return self.process.resize(rows, cols)

    async def close(self) -> None:
        await self.process.close()

    async def __aenter__(self) -> TextProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
