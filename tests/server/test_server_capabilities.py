"""Each optional execer capability end to end: used when present, not needed when absent.

The execers here wrap the real local execer and show or hide one capability
(``read_message``, ``needs_drain``, ``resolve``, ``close``); real servers on
127.0.0.1 run real processes, and every byte is checked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from support import TIMEOUT
from support.wire import header, start_bytes
from wsep_protocol import (
    ClosableExecer,
    Command,
    DrainAwareWriter,
    Execer,
    ExitStatus,
    FramedReader,
    Process,
    ProcessReader,
    ProcessWriter,
    ResolvingExecer,
)
from wsep_server import create_app
from wsep_server.local import LocalExecer
from wsep_server.policy import FilePolicy, default_resolver, load_policy_file
from wsep_server.recording import RecordingExecer

MakeServer = Callable[..., Awaitable[str]]

#: Several messages' worth of each stream (v1 messages hold at most 64,000 bytes).
OUT_SIZE = 3_000_000
IN_CHUNK = 60_000
IN_CHUNKS = 40


class PlainReader:
    """Only ``read``: the server must frame the output itself."""

    def __init__(self, inner: ProcessReader) -> None:
        self.inner = inner
        self.reads = 0

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        return await self.inner.read(n)


class CountingFramedReader(PlainReader):
    """``read`` and ``read_message``, counting which one the server calls."""

    def __init__(self, inner: FramedReader) -> None:
        super().__init__(inner)
        self.framed = inner
        self.messages = 0

    async def read_message(self, header: bytes, max_size: int) -> bytes | bytearray | memoryview:
        self.messages += 1
        return await self.framed.read_message(header, max_size)


class PlainWriter:
    """``write``, ``drain``, ``close``: the server must drain after every write."""

    def __init__(self, inner: ProcessWriter) -> None:
        self.inner = inner
        self.drains = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.inner.write(data)

    async def drain(self) -> None:
        self.drains += 1
        await self.inner.drain()

    def close(self) -> None:
        self.inner.close()


class CountingDrainAwareWriter(PlainWriter):
    def __init__(self, inner: DrainAwareWriter) -> None:
        super().__init__(inner)
        self.hinting = inner
        self.asked = 0

    @property
    def needs_drain(self) -> bool:
        self.asked += 1
        return self.hinting.needs_drain


class WrappedProcess:
    def __init__(self, inner: Process, *, framed: bool, drain_aware: bool) -> None:
        self.inner = inner
        out, err, stdin = inner.stdout, inner.stderr, inner.stdin
        assert isinstance(out, FramedReader)
        assert isinstance(err, FramedReader)
        assert isinstance(stdin, DrainAwareWriter)
        self.stdout: PlainReader = CountingFramedReader(out) if framed else PlainReader(out)
        self.stderr: PlainReader = CountingFramedReader(err) if framed else PlainReader(err)
        self.stdin: PlainWriter = (
            CountingDrainAwareWriter(stdin) if drain_aware else PlainWriter(stdin)
        )

    @property
    def pid(self) -> int:
        return self.inner.pid

    async def wait(self) -> ExitStatus:
        return await self.inner.wait()

    async def resize(self, rows: int, cols: int) -> None:
        await self.inner.resize(rows, cols)

    async def send_signal(self, signum: int) -> None:
        await self.inner.send_signal(signum)

    async def close(self) -> None:
        await self.inner.close()


class WrappingExecer:
    """The local execer, with the fast paths shown or hidden; remembers its processes."""

    def __init__(self, *, framed: bool = False, drain_aware: bool = False) -> None:
        self.inner = LocalExecer(grace_period=2.0, output_linger=0.5)
        self.framed = framed
        self.drain_aware = drain_aware
        self.processes: list[WrappedProcess] = []

    async def start(self, command: Command) -> WrappedProcess:
        process = WrappedProcess(
            await self.inner.start(command), framed=self.framed, drain_aware=self.drain_aware
        )
        self.processes.append(process)
        return process


async def _session(url: str, start: bytes, stdin: list[bytes] = ()) -> tuple[bytes, bytes, int]:
    """Start, send ``stdin`` then close it, and collect stdout, stderr and the exit code."""
    out, err = bytearray(), bytearray()
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_bytes(start)
        for chunk in stdin:
            await ws.send_bytes(b'{"type":"stdin"}\n' + chunk)
        if stdin:
            await ws.send_bytes(b'{"type":"close_stdin"}\n')
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert msg.type is aiohttp.WSMsgType.BINARY, msg
            head = header(msg.data)
            body = msg.data.partition(b"\n")[2]
            if head["type"] == "stdout":
                out += body
            elif head["type"] == "stderr":
                err += body
            elif head["type"] == "exit_code":
                return bytes(out), bytes(err), int(head["exit_code"])  # type: ignore[call-overload]


OUTPUT_SCRIPT = (
    f"head -c {OUT_SIZE} /dev/zero | tr '\\0' o; head -c {OUT_SIZE} /dev/zero | tr '\\0' e >&2"
)


def test_the_wrappers_show_exactly_the_capability_asked_for() -> None:
    plain = WrappingExecer()
    fast = WrappingExecer(framed=True, drain_aware=True)
    assert isinstance(plain, Execer)
    assert isinstance(fast, Execer)
    assert not isinstance(PlainReader(None), FramedReader)  # type: ignore[arg-type]
    assert isinstance(CountingFramedReader(None), FramedReader)  # type: ignore[arg-type]
    assert not isinstance(PlainWriter(None), DrainAwareWriter)  # type: ignore[arg-type]
    # Before 3.12 isinstance() reads a property to see that it exists: give it an inner
    # writer to read from.
    hinting = CountingDrainAwareWriter(SimpleNamespace(needs_drain=False))  # type: ignore[arg-type]
    assert isinstance(hinting, DrainAwareWriter)


@pytest.mark.parametrize("framed", [False, True], ids=["read", "read_message"])
async def test_output_streams_completely_with_or_without_read_message(
    make_server: MakeServer, framed: bool
) -> None:
    execer = WrappingExecer(framed=framed)
    url = await make_server(execer=execer)
    out, err, code = await _session(url, start_bytes("sh", "-c", OUTPUT_SCRIPT))
    assert code == 0
    assert out == b"o" * OUT_SIZE
    assert err == b"e" * OUT_SIZE
    [process] = execer.processes
    for reader in (process.stdout, process.stderr):
        if framed:
            assert isinstance(reader, CountingFramedReader)
            assert reader.messages > 1  # the fast path was taken...
            assert reader.reads == 0  # ...and only it
        else:
            assert reader.reads > 1


@pytest.mark.parametrize("drain_aware", [False, True], ids=["drain", "needs_drain"])
async def test_input_arrives_completely_with_or_without_needs_drain(
    make_server: MakeServer, drain_aware: bool
) -> None:
    execer = WrappingExecer(drain_aware=drain_aware)
    url = await make_server(execer=execer)
    chunks = [bytes([i]) * IN_CHUNK for i in range(IN_CHUNKS)]
    out, _, code = await _session(url, start_bytes("sha256sum", stdin=True), chunks)
    assert code == 0
    assert out.split()[0].decode() == hashlib.sha256(b"".join(chunks)).hexdigest()
    [process] = execer.processes
    stdin = process.stdin
    if drain_aware:
        assert isinstance(stdin, CountingDrainAwareWriter)
        assert stdin.asked >= IN_CHUNKS  # asked once per message...
        assert stdin.drains < stdin.asked  # ...and drained only when it said so
    else:
        assert stdin.drains >= IN_CHUNKS  # no hint: drained after every write


class AliasExecer(WrappingExecer):
    """Resolves ``greet`` to ``/bin/echo``, and runs it so."""

    def resolve(self, command: Command) -> str:
        return "/bin/echo" if command.command == "greet" else self.inner.resolve(command)

    async def start(self, command: Command) -> WrappedProcess:
        if command.command == "greet":
            command = Command("/bin/echo", command.args)
        return await super().start(command)


@pytest.mark.parametrize("resolving", [False, True], ids=["local-lookup", "resolve"])
async def test_policy_checks_what_the_execer_resolves(
    make_server: MakeServer, tmp_path: Path, resolving: bool
) -> None:
    execer = AliasExecer() if resolving else WrappingExecer()
    assert isinstance(execer, ResolvingExecer) is resolving
    policy_file = tmp_path / "policy.toml"
    # uids: the server's own user may be root here (a container), which needs saying.
    policy_file.write_text('[anonymous]\ncommands = ["/bin/echo", "/usr/bin/echo"]\nuids = [0]\n')
    policy = FilePolicy(load_policy_file(policy_file), resolver=default_resolver(execer))
    url = await make_server(execer=execer, policy=policy)
    if resolving:
        out, _, code = await _session(url, start_bytes("greet", "hello"))
        assert (out, code) == (b"hello\n", 0)
    else:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_bytes(start_bytes("greet", "hello"))
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert msg.data == 1008  # refused before anything was spawned
            assert "greet" in msg.extra
        assert execer.processes == []


class ClosingExecer(WrappingExecer):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(
    ("closable", "recorded"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["no-close", "close", "recorded-no-close", "recorded-close"],
)
async def test_server_shutdown_closes_a_closable_execer(
    closable: bool, recorded: bool, tmp_path: Path
) -> None:
    execer = ClosingExecer() if closable else WrappingExecer()
    assert isinstance(execer, ClosableExecer) is closable
    # Recording wraps the execer (--record-dir): the inner one is closed all the same.
    served: Execer = RecordingExecer(execer, tmp_path / "casts") if recorded else execer
    runner = web.AppRunner(create_app(execer=served, log_connections=False), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
        out, _, code = await _session(url, start_bytes("echo", "up"))
        assert (out, code) == (b"up\n", 0)
    finally:
        await runner.cleanup()
    if isinstance(execer, ClosingExecer):
        assert execer.closed == 1
