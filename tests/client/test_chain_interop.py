"""Chaining (a server whose execer is a RemoteExecer) and v1-only interop."""

from __future__ import annotations

import hashlib
import signal

import pytest
import wsep_client
from wsep_client import NotSupported, RemoteExecer, StartFailed
from wsep_protocol import Command, ProtocolVersion, StartErrorKind

pytestmark = pytest.mark.usefixtures("no_leaked_children")


class Recording:
    """The second server's execer: a LocalExecer that notes what it started."""

    def __init__(self) -> None:
        from wsep_server.local import LocalExecer

        self.inner = LocalExecer(grace_period=2.0, output_linger=0.5)
        self.started: list[Command] = []

    async def start(self, command: Command):  # type: ignore[no-untyped-def]
        self.started.append(command)
        return await self.inner.start(command)


async def test_chained_server_forwards_to_the_second(make_server) -> None:
    second = Recording()
    second_url = await make_server(execer=second)
    forwarder = RemoteExecer(second_url)
    try:
        first_url = await make_server(execer=forwarder)
        async with wsep_client.connect(first_url) as remote:
            result = await remote.run(
                "sh", "-c", "cat; echo hop=$HOP; exit 9", input=b"through\n", env={"HOP": "2"}
            )
            data = bytes(range(256)) * 8192
            big = await remote.run("sha256sum", input=data, check=True)
            with pytest.raises(StartFailed) as info:
                await remote.run("no-such-command-chained")
            proc = await remote.create_process("sh", "-c", "echo up; exec sleep 60")
            assert await proc.stdout.readline() == b"up\n"
            await proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == -signal.SIGTERM
            await proc.close()
    finally:
        await forwarder.close()
    assert result.returncode == 9
    assert result.stdout == b"through\nhop=2\n"
    assert big.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert info.value.kind is StartErrorKind.COMMAND_NOT_FOUND
    argvs = [c.argv for c in second.started]
    assert ("sh", "-c", "cat; echo hop=$HOP; exit 9") in argvs
    assert ("no-such-command-chained",) in argvs


async def test_v1_only_server_interop(v1_url: str, tmp_path) -> None:
    """Against a Go-identical v1 server: no subprotocol, 64,000-byte messages, no extensions."""
    async with wsep_client.connect(v1_url) as remote:
        proc = await remote.create_process("sh", "-c", "echo out; echo err >&2; cat | wc -c")
        assert proc.protocol_version == 1
        payload = b"z" * 1_000_000
        out, err = await proc.communicate(payload)
        await proc.close()
        assert out.split() == [b"out", b"1000000"]
        assert err == b"err\n"
        result = await remote.run("sh", "-c", "kill -TERM $$")
        assert result.exit_signal == signal.SIGTERM
        assert result.returncode == -15
        result = await remote.run("sh", "-c", "exit 42")
        assert result.returncode == 42
        tty = await remote.run(
            "sh", "-c", "stty size; tty >/dev/null && echo tty", tty=True, rows=33, cols=101
        )
        assert tty.stdout.replace(b"\r", b"").split(b"\n")[:2] == [b"33 101", b"tty"]
        src = tmp_path / "f"
        src.write_bytes(b"abc" * 100_000)
        up = await wsep_client.upload(remote, src, str(tmp_path / "g"))
        assert up.verified
        assert (tmp_path / "g").read_bytes() == src.read_bytes()
        proc = await remote.create_process("sleep", "60")
        with pytest.raises(NotSupported):
            await proc.send_signal(signal.SIGINT)
        await proc.close()


async def test_forcing_v1_against_a_v2_server(url: str) -> None:
    async with wsep_client.connect(url, version=ProtocolVersion.V1) as remote:
        proc = await remote.create_process("cat")
        assert proc.protocol_version == 1
        assert proc.stdin.max_chunk == 64_000 - len(b'{"type":"stdin"}\n')
        out, _ = await proc.communicate(b"q" * 200_000)
        await proc.close()
    assert out == b"q" * 200_000


async def test_chained_server_processes(start_server_process) -> None:
    """Two real ``wsep-server`` processes; the first forwards with ``--execer``."""
    second = start_server_process(env={"CHAIN_MARK": "second"})
    first = start_server_process(
        "--execer",
        "wsep_client.chain:upstream_execer",
        env={"WSEP_UPSTREAM_URL": second.url, "CHAIN_MARK": "first"},
    )
    async with wsep_client.connect(first.url) as remote:
        result = await remote.run("sh", "-c", 'echo "$CHAIN_MARK"; cat', input=b"in\n")
        with pytest.raises(StartFailed):
            await remote.run("no-such-command-chained")
    assert result.stdout == b"second\nin\n"
    assert first.stop() == 0
    assert "Unclosed" not in first.output()
