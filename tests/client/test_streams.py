"""Streaming reads, stdin chunking, bounded buffers and backpressure."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import wsep_client
from support.client import BIG
from wsep_protocol import V1_MAX_MESSAGE_SIZE, ProtocolVersion

pytestmark = pytest.mark.usefixtures("no_leaked_children")


async def test_readline_readexactly_and_iteration(url: str) -> None:
    script = "printf 'one\\ntwo\\nthree\\n'; printf 'ABCDEFGH'; printf 'x\\ny\\n' >&2"
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", script, stdin=False)
        assert await proc.stdout.readline() == b"one\n"
        assert await proc.stdout.readuntil(b"\n") == b"two\n"
        assert await proc.stdout.readexactly(6) == b"three\n"
        assert await proc.stdout.readexactly(4) == b"ABCD"
        assert await proc.stdout.read() == b"EFGH"
        assert proc.stdout.at_eof()
        assert [line async for line in proc.stderr] == [b"x\n", b"y\n"]
        assert await proc.wait() == 0
        with pytest.raises(asyncio.IncompleteReadError):
            await proc.stdout.readexactly(1)
        await proc.close()


@pytest.mark.parametrize("version", [ProtocolVersion.V1, ProtocolVersion.V2])
async def test_stdin_is_chunked_to_the_peer_limit(url: str, version: ProtocolVersion) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB in one write()
    async with wsep_client.connect(url, version=version) as remote:
        proc = await remote.create_process("sha256sum")
        assert proc.protocol_version == int(version)
        if version is ProtocolVersion.V1:
            assert proc.stdin.max_chunk == V1_MAX_MESSAGE_SIZE - len(b'{"type":"stdin"}\n')
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()
        out = await proc.stdout.read()
        assert await proc.wait() == 0
        await proc.close()
    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest()


async def test_big_transfers_both_ways_hash_checked(url: str) -> None:
    """BIG bytes each way (100 MB with WSEP_FULL=1): stdin in, stdout out, both hashed."""
    async with wsep_client.connect(url) as remote:
        # Upstream: local bytes into the remote sha256sum.
        proc = await remote.create_process("sha256sum")
        digest = hashlib.sha256()
        block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB, not compressible to nothing
        sent = 0
        while sent < BIG:
            piece = block[: BIG - sent]
            digest.update(piece)
            proc.stdin.write(piece)
            await proc.stdin.drain()
            sent += len(piece)
        proc.stdin.close()
        out = await proc.stdout.read()
        assert await proc.wait() == 0
        await proc.close()
        assert out.split()[0].decode() == digest.hexdigest()

        # Downstream: remote bytes, hashed on both sides.
        proc = await remote.create_process(
            "sh",
            "-c",
            f"head -c {BIG} /dev/urandom > $TMPDIR/wsep-big-$$; "
            f"sha256sum < $TMPDIR/wsep-big-$$ >&2; cat $TMPDIR/wsep-big-$$; rm $TMPDIR/wsep-big-$$",
            stdin=False,
            env={"TMPDIR": "/tmp"},
        )
        digest = hashlib.sha256()
        size = 0
        while chunk := await proc.stdout.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        err = await proc.stderr.read()
        assert await proc.wait() == 0
        await proc.close()
    assert size == BIG
    assert err.split()[0].decode() == digest.hexdigest()


async def test_unread_stdout_keeps_memory_bounded(url: str) -> None:
    """A reader that never reads stdout: the buffer stops at its bound, nothing is lost."""
    limit = 256 * 1024
    total = 64 * 1024 * 1024
    async with wsep_client.connect(url, limit=limit) as remote:
        proc = await remote.create_process(
            "sh", "-c", f"head -c {total} /dev/zero; echo finished >&2", stdin=False
        )
        # Wait until reading paused: the buffer passed 2 * limit and the gate closed.
        await asyncio.wait_for(proc._gate.paused.wait(), 30)
        assert proc.stdout.buffered > 2 * limit
        # While paused, stderr cannot get through either (one connection, like pipes).
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 0.5)
        assert proc.stdout.buffered <= 2 * limit + 1_048_576 + 1024
        # Now drain everything: nothing was lost while paused.
        size = 0
        while chunk := await proc.stdout.read(1 << 20):
            assert not chunk.strip(b"\0")
            size += len(chunk)
        assert size == total
        assert await proc.stderr.read() == b"finished\n"
        assert await proc.wait() == 0
        await proc.close()
    # The bound held for the whole run: one message over the pause point at most.
    assert proc.stdout.peak_buffered <= 2 * limit + 1_048_576 + 1024


async def test_close_with_a_full_unread_buffer_does_not_hang(url: str) -> None:
    async with wsep_client.connect(url, limit=64 * 1024) as remote:
        proc = await remote.create_process("yes", stdin=False)
        await asyncio.wait_for(proc._gate.paused.wait(), 30)
        # Closing must not wait for the parked reader (nor drain the flood): 5 s is ample.
        await asyncio.wait_for(proc.close(), 5)
        with pytest.raises(wsep_client.ConnectionLost):
            await proc.wait()


@pytest.mark.parametrize("version", [ProtocolVersion.V1, ProtocolVersion.V2])
async def test_mixed_reads_across_message_boundaries(url: str, version: ProtocolVersion) -> None:
    """Bulk reads hand out received messages; line and exact reads see the same bytes."""
    expected = b"".join(b"%d\n" % i for i in range(1, 200_001))
    got = bytearray()
    async with wsep_client.connect(url, version=version) as remote:
        proc = await remote.create_process("seq", "1", "200000", stdin=False)
        step = 0
        while not proc.stdout.at_eof():
            kind = step % 4
            step += 1
            if kind == 0:
                got += await proc.stdout.read(7)
            elif kind == 1:
                got += await proc.stdout.readline()
            elif kind == 2:
                try:
                    got += await proc.stdout.readexactly(1000)
                except asyncio.IncompleteReadError as exc:
                    got += exc.partial
            else:
                got += await proc.stdout.read(100_000)
        assert await proc.wait() == 0
        assert proc.stdout.buffered == 0
        await proc.close()
    assert bytes(got) == expected


async def test_stdin_sends_what_was_written_even_if_the_buffer_changes(url: str) -> None:
    """write() keeps no reference to a caller's mutable buffer: later changes are not sent."""
    block = bytearray(b"a" * 300_000)
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sha256sum")
        for _ in range(4):
            proc.stdin.write(block)
            block[:] = b"b" * len(block)  # before anything was sent
            proc.stdin.write(memoryview(block)[:1000])
            block[:] = b"a" * len(block)
        await proc.stdin.drain()
        proc.stdin.close()
        out = await proc.stdout.read()
        assert await proc.wait() == 0
        await proc.close()
    expected = (b"a" * 300_000 + b"b" * 1000) * 4
    assert out.split()[0].decode() == hashlib.sha256(expected).hexdigest()
