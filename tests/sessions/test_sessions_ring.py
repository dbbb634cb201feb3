"""The bounded, offset-addressed output ring of resumable jobs."""

from __future__ import annotations

import asyncio

import pytest
from wsep_server.sessions import OutputRing


def test_ring_keeps_the_newest_bytes_with_their_offsets() -> None:
    ring = OutputRing(10)
    ring.append(b"0123456")
    ring.append(b"789abc")
    assert (ring.start, ring.end, ring.size) == (3, 13, 10)
    assert ring.read(5, 100) == (5, b"56789abc")
    assert ring.read(0, 4) == (3, b"3456")  # 0..2 were evicted: the reader learns where it is
    assert ring.read(13, 4) == (13, b"")
    ring.append(b"x" * 25)  # larger than the ring
    assert (ring.start, ring.end) == (28, 38)
    assert ring.read(0, 100) == (28, b"x" * 10)
    with pytest.raises(ValueError, match="past the end"):
        ring.read(39, 1)
    with pytest.raises(ValueError, match="capacity"):
        OutputRing(0)


async def test_attached_readers_hold_the_writer_back() -> None:
    ring = OutputRing(8)
    reader = object()
    ring.attach(reader, 0)
    ring.append(b"abcdef")
    await asyncio.wait_for(ring.reserve(2), 5)  # 8 bytes fit
    ring.append(b"gh")
    blocked = asyncio.ensure_future(ring.reserve(1))
    await asyncio.sleep(0)
    assert not blocked.done()
    ring.advance(reader, 3)
    await asyncio.wait_for(blocked, 5)
    ring.append(b"ijk")
    assert ring.read(3, 100) == (3, b"defghijk")
    ring.detach(reader)
    await asyncio.wait_for(ring.reserve(100), 5)  # nobody attached: never waits
    ring.close()
    assert ring.eof
