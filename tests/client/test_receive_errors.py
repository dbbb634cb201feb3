"""Only a lost connection is reported as one: a bug while receiving reaches the caller
as an InternalError (its cause attached), and nothing is resumed or retried."""

from __future__ import annotations

import asyncio

import pytest
import wsep_client
from wsep_client import ConnectionLost, InternalError

pytestmark = pytest.mark.usefixtures("no_leaked_children")


class _Bug(Exception):
    pass


async def test_a_bug_while_receiving_is_not_a_lost_connection(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "echo up; read line; echo after; sleep 60")
        assert await proc.stdout.readline() == b"up\n"

        def broken(data: object) -> None:
            raise _Bug("a bug in what the receive loop calls")

        proc._stdout.feed_data = broken  # type: ignore[method-assign]
        proc.stdin.write(b"go\n")
        with pytest.raises(InternalError) as info:
            await asyncio.wait_for(proc.wait(), 30)
        assert not isinstance(info.value, ConnectionLost)
        assert isinstance(info.value.__cause__, _Bug)
        await proc.close()  # the server ends `sh` (no_leaked_children checks)
