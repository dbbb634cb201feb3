"""The SDK's sessions: resumable jobs across dropped connections, reattach, management."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
import wsep_client
from support import scaled
from support.cli import one_line, wsep
from support.client import Proxy
from support.sessions import PY
from support.streams import read_all, read_until
from support.wire import port_of
from wsep_client import (
    NoSuchSession,
    NotSupported,
    OutputGap,
    RemoteExecer,
    RemoteProcess,
    ResumeOptions,
)
from wsep_protocol import LocalProtocolError, ProtocolVersion
from wsep_protocol.sessions import Gap
from wsep_server.local import LocalExecer
from wsep_server.sessions import SessionConfig, SessionManager

pytestmark = pytest.mark.usefixtures("no_leaked_children")


#: Writes TOTAL deterministic bytes (a 1 MiB block repeated) to stdout, a little to stderr;
#: with GATE_AT and FIFO, it stops after GATE_AT bytes until a line is written to FIFO.
WRITER = """
import hashlib, sys
total = int(sys.argv[1])
gate_at = int(sys.argv[2]) if len(sys.argv) > 2 else total
block = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(32768))
out = sys.stdout.buffer
sys.stderr.write("stderr-begin\\n"); sys.stderr.flush()
written = 0
while written < total:
    if written == gate_at:
        with open(sys.argv[3]) as f:
            f.readline()
    n = min(65536, total - written, gate_at - written if written < gate_at else total)
    at = written % len(block)
    n = min(n, len(block) - at)
    out.write(block[at : at + n]); out.flush()
    written += n
sys.stderr.write("stderr-end\\n")
sys.exit(3)
"""
BLOCK = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(32768))


async def start_writer(execer: RemoteExecer, total: int, gate_at: int, fifo: Path) -> RemoteProcess:
    """The resumable job ``job`` running WRITER."""
    args = ("-u", "-c", WRITER, str(total), str(gate_at), str(fifo))
    return await execer.create_process(PY, *args, stdin=False, session_id="job", resumable=True)


def expected(total: int) -> bytes:
    return (BLOCK * (total // len(BLOCK) + 1))[:total]


async def read_into(reader: asyncio.StreamReader, data: bytearray) -> None:
    while chunk := await reader.read(65536):
        data += chunk


@pytest.fixture
async def manager_server(make_server):  # type: ignore[no-untyped-def]
    """A server whose session manager the test can look into (its ring holds ``ring_bytes``)."""
    made: list[tuple[str, SessionManager]] = []

    async def factory(**config: object) -> tuple[str, SessionManager]:
        execer = LocalExecer(grace_period=2.0, output_linger=0.5)
        mgr = SessionManager(execer, SessionConfig(**config))  # type: ignore[arg-type]
        url = await make_server(execer=execer, session_manager=mgr)
        made.append((url, mgr))
        return url, mgr

    return factory  # type: ignore[return-value]


async def release(fifo: Path) -> None:
    def write() -> None:
        with open(fifo, "w") as f:
            f.write("go\n")

    await asyncio.wait_for(asyncio.to_thread(write), 30)


async def test_resumable_job_survives_a_dropped_connection(manager_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    total = scaled(8_000_000, 50_000_000)
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    url, _ = await manager_server(ring_bytes=total + (1 << 20), timeout=30)
    proxy = Proxy(port_of(url))
    await proxy.start()
    try:
        async with RemoteExecer(f"ws://127.0.0.1:{proxy.port}/") as execer:
            proc = await start_writer(execer, total, total // 2, fifo)
            assert proc.resumable
            received = bytearray()
            while len(received) < total // 4:  # then the network goes away mid-stream
                received += await asyncio.wait_for(proc.stdout.read(65536), 30)
            proxy.cut()  # the job is held at its gate: this is before its exit, always
            await release(fifo)
            rest, err = await asyncio.wait_for(
                asyncio.gather(read_all(proc.stdout), read_all(proc.stderr)), 60
            )
            await asyncio.wait_for(proc.wait(), 30)
            status = proc.exit_status
            await proc.close()
            # Every byte exactly once, then the exit status.
            received += rest
            assert len(received) == total
            assert hashlib.sha256(received).digest() == hashlib.sha256(expected(total)).digest()
            assert err == b"stderr-begin\nstderr-end\n"
            assert status is not None
            assert status.code == 3
            assert proc.reconnects >= 1
            assert proc.gaps == []
            # The job delivered its exit to a client that had everything: it is gone.
            assert all(s.id != "job" for s in await execer.list_sessions())
    finally:
        await proxy.close()


async def _run_detached(execer: RemoteExecer, mgr: SessionManager, job: str, total: int) -> None:
    """Start a resumable job, detach at once, and wait until it has exited unattended."""
    proc = await execer.create_process(
        PY, "-u", "-c", WRITER, str(total), stdin=False, session_id=job, resumable=True
    )
    await proc.close()  # detached: the job runs on, and its ring evicts
    session = mgr.find(None, job)
    assert session is not None
    await asyncio.wait_for(session.exited.wait(), 30)


async def test_evicted_bytes_raise_or_are_marked(manager_server) -> None:  # type: ignore[no-untyped-def]
    url, mgr = await manager_server(ring_bytes=100_000, timeout=30)
    total = 1_000_000
    async with RemoteExecer(url) as execer:
        await _run_detached(execer, mgr, "strict", total)
        strict = await execer.attach("strict", offsets={"stdout": 0, "stderr": 0})
        with pytest.raises(OutputGap) as info:
            await asyncio.wait_for(read_all(strict.stdout), 30)
        assert (info.value.stream, info.value.offset, info.value.length) == (
            "stdout",
            0,
            total - 100_000,
        )
        assert "evicted" in str(info.value)
        with pytest.raises(OutputGap):
            await strict.wait()
        await strict.close()

        await _run_detached(execer, mgr, "lenient", total)
        lenient = await execer.attach(
            "lenient", offsets={"stdout": 0, "stderr": 0}, resume=ResumeOptions(on_gap="mark")
        )
        out = await asyncio.wait_for(read_all(lenient.stdout), 30)
        assert lenient.gaps == [Gap("stdout", 0, total - 100_000)]
        assert out == expected(total)[total - 100_000 :]
        assert await asyncio.wait_for(lenient.wait(), 30) == 3
        assert lenient.offsets()["stdout"] == total
        await lenient.close()


class GatedProxy(Proxy):
    """A proxy that holds new connections while ``open`` is clear."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.open = asyncio.Event()
        self.open.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.open.wait()
        await super()._handle(reader, writer)


async def test_gap_during_resume_comes_after_the_bytes_before_it(
    manager_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    url, mgr = await manager_server(ring_bytes=100_000, timeout=30)
    total, gate_at = 1_000_000, 200_000
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    proxy = GatedProxy(port_of(url))
    await proxy.start()
    try:
        async with RemoteExecer(f"ws://127.0.0.1:{proxy.port}/") as execer:
            proc = await start_writer(execer, total, gate_at, fifo)
            first = await asyncio.wait_for(proc.stdout.read(1000), 30)
            proxy.open.clear()  # the reconnection waits at the proxy ...
            proxy.cut()
            await release(fifo)
            session = mgr.find(None, "job")
            assert session is not None
            await asyncio.wait_for(session.exited.wait(), 30)  # ... while the job runs out
            proxy.open.set()
            data = bytearray(first)
            with pytest.raises(OutputGap) as info:
                await asyncio.wait_for(read_into(proc.stdout, data), 30)
            gap = info.value
            assert gap.stream == "stdout"
            assert gap.offset == len(data) <= gate_at  # every byte before the gap, then the error
            assert gap.offset + gap.length == total - 100_000
            assert bytes(data) == expected(total)[: len(data)]
            with pytest.raises(OutputGap):
                await proc.wait()
            assert proc.reconnects == 1
            await proc.close()
    finally:
        await proxy.close()


async def test_terminal_session_reattach_shows_the_screen(url: str) -> None:
    code = "print('hello-screen'); input(); print('bye')"
    async with RemoteExecer(url) as execer:
        first = await execer.create_process(
            PY, "-u", "-c", code, tty=True, rows=24, cols=80, session_id="term"
        )
        await asyncio.wait_for(read_until(first.stdout, b"hello-screen"), 30)
        await first.close()  # detaches; the session lives on

        again = await execer.attach("term", rows=24, cols=80)
        assert again.command.tty
        assert again.session_id == "term"
        assert not again.resumable
        assert again.stderr.at_eof()
        await asyncio.wait_for(read_until(again.stdout, b"hello-screen"), 30)  # the redraw
        again.stdin.write(b"\r")
        await asyncio.wait_for(read_until(again.stdout, b"bye"), 30)
        assert await asyncio.wait_for(again.wait(), 30) == 0
        await again.close()


async def test_terminal_session_survives_a_dropped_connection(url: str, proxy: Proxy) -> None:
    """Reattached by id with the size it has now; the screen comes back as a redraw."""
    script = "echo ready; read x; stty size; read y; echo bye"
    async with RemoteExecer(f"ws://127.0.0.1:{proxy.port}/") as execer:
        proc = await execer.create_process(
            "sh", "-c", script, tty=True, rows=24, cols=80, session_id="term"
        )
        await asyncio.wait_for(read_until(proc.stdout, b"ready"), 30)
        proxy.cut()
        await proc.resize(30, 100)  # during the drop or after: it reaches the session
        await asyncio.wait_for(read_until(proc.stdout, b"ready"), 30)  # the redraw
        assert proc.reconnects == 1
        proc.stdin.write(b"\r")
        await proc.stdin.drain()
        await asyncio.wait_for(read_until(proc.stdout, b"30 100"), 30)
        proc.stdin.write(b"\r")
        await asyncio.wait_for(read_until(proc.stdout, b"bye"), 30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await proc.close()


async def test_terminal_reattach_can_be_turned_off(url: str, proxy: Proxy) -> None:
    async with RemoteExecer(f"ws://127.0.0.1:{proxy.port}/") as execer:
        proc = await execer.create_process(
            "sh",
            "-c",
            "echo ready; read x",
            tty=True,
            session_id="term-off",
            resume=ResumeOptions(terminals=False),
        )
        await asyncio.wait_for(read_until(proc.stdout, b"ready"), 30)
        proxy.cut()
        with pytest.raises(wsep_client.ConnectionLost):
            await asyncio.wait_for(proc.wait(), 30)
        assert proc.reconnects == 0
        await proc.close()
        # The session itself lives on for a later attach.
        again = await execer.attach("term-off")
        again.stdin.write(b"\r")
        assert await asyncio.wait_for(again.wait(), 30) == 0
        await again.close()


async def test_read_only_attach_refuses_input(url: str) -> None:
    async with RemoteExecer(url) as execer:
        owner = await execer.create_process(
            PY, "-u", "-c", "print('ready'); input()", tty=True, session_id="watched"
        )
        await asyncio.wait_for(read_until(owner.stdout, b"ready"), 30)
        observer = await execer.attach("watched", read_only=True)
        assert observer.read_only
        with pytest.raises(LocalProtocolError, match="read-only"):
            observer.stdin.write(b"x")
        with pytest.raises(LocalProtocolError, match="read-only"):
            await observer.resize(10, 10)
        with pytest.raises(LocalProtocolError, match="read-only"):
            await observer.terminate()
        owner.stdin.write(b"\r")
        assert await asyncio.wait_for(owner.wait(), 30) == 0
        assert await asyncio.wait_for(observer.wait(), 30) == 0
        await owner.close()
        await observer.close()


async def test_list_info_end(url: str) -> None:
    async with RemoteExecer(url) as execer:
        proc = await execer.create_process(
            PY, "-u", "-c", "import sys; sys.stdin.read()", tty=True, session_id="managed"
        )
        listed = await execer.list_sessions()
        assert [s.id for s in listed] == ["managed"]
        info = await execer.session_info("managed")
        assert info.state == "running"
        assert info.tty
        assert info.pid == proc.pid
        assert info.argv[-1] == "import sys; sys.stdin.read()"
        assert len(info.clients) == 1
        await execer.end_session("managed")
        await asyncio.wait_for(proc.wait(), 30)  # the attached client got the exit
        status = proc.exit_status
        assert status is not None
        assert status.code != 0 or status.signal is not None
        await proc.close()
        assert all(s.id != "managed" or s.state == "exited" for s in await execer.list_sessions())
        with pytest.raises(NoSuchSession):
            await execer.session_info("no-such-id")
        with pytest.raises(NoSuchSession):
            await execer.end_session("no-such-id")
        with pytest.raises(wsep_client.StartFailed, match=r"no_such_session|no session"):
            await execer.attach("no-such-id")


async def test_v1_server_says_not_supported(v1_url: str) -> None:
    async with RemoteExecer(v1_url) as execer:
        with pytest.raises(NotSupported, match="v2"):
            await execer.create_process(PY, "-c", "pass", session_id="x", resumable=True)
        with pytest.raises(NotSupported, match="v2"):
            await execer.attach("x")
        with pytest.raises(NotSupported, match="v2"):
            await execer.list_sessions()
    async with RemoteExecer(v1_url, version=ProtocolVersion.V1) as execer:
        with pytest.raises(NotSupported):
            await execer.attach("x")


# --- the CLI -----------------------------------------------------------------------


async def test_cli_run_with_id_reattaches_and_redraws(url: str) -> None:
    async with RemoteExecer(url) as execer:
        first = await execer.create_process(
            PY,
            "-u",
            "-c",
            "print('hello-screen'); input(); print('bye')",
            tty=True,
            session_id="cli",
        )
        await asyncio.wait_for(read_until(first.stdout, b"hello-screen"), 30)
        await first.close()
    # The command of a reattaching run is ignored: the session's process goes on.
    code, out, err = await wsep("run", "-t", "--id", "cli", "--url", url, "--", "true", input=b"\r")
    assert b"hello-screen" in out  # the server's redraw
    assert b"bye" in out
    assert (code, err) == (0, b"")


async def test_cli_sessions_list_info_end(url: str, v1_url: str) -> None:
    async with RemoteExecer(url) as execer:
        proc = await execer.create_process(
            PY, "-u", "-c", "import sys; sys.stdin.read()", tty=True, session_id="managed"
        )
        code, out, err = await wsep("sessions", "--url", url)
        assert (code, err) == (0, b"")
        header, line = out.decode().splitlines()
        assert header.split() == ["ID", "KIND", "STATE", "PID", "CLIENTS", "AGE", "COMMAND"]
        assert line.split()[:5] == ["managed", "tty", "running", str(proc.pid), "1"]
        code, out, err = await wsep("sessions", "info", "managed", "--url", url)
        assert code == 0
        assert "state:     running" in out.decode()
        assert f"pid:       {proc.pid}" in out.decode()
        code, out, err = await wsep("sessions", "end", "managed", "--url", url)
        assert (code, out, err) == (0, b"", b"")
        await asyncio.wait_for(proc.wait(), 30)
        await proc.close()
    code, _, err = await wsep("sessions", "info", "nope", "--url", url)
    assert code == 1
    assert one_line(err) == "wsep: no session 'nope'\n"
    code, _, err = await wsep("sessions", "end", "--url", url)
    assert code == 2  # usage error: no id
    code, _, err = await wsep("sessions", "list", "--url", v1_url)
    assert code == 255
    assert "v2" in one_line(err)
