"""Nothing lost: many runs with random output sizes on interleaved stdout and stderr.

Each run's child copies random slices of one random file to stdout and stderr in
alternation (``dd``), then exits with a random code. The client checks every
byte (SHA-256 per stream per run), the exit code, and that ``exit_code`` is the
last message. Sizes are log-uniform from 0 bytes up to 1 MB (10 MB with
``WSEP_FULL=1``), including exact zeros; half the runs speak v1 (64,000-byte
messages), half v2.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import scaled
from support.rawws import RawWebSocket
from support.reliability import Serve, gather_limited, record, work_timeout
from support.wire import collect, start_bytes
from wsep_protocol import SUBPROTOCOL_V2

SEED = 20261127
RUNS = scaled(300, 10_000)


@dataclass(frozen=True)
class Plan:
    chunks: tuple[tuple[str, int, int], ...]  # (stream, offset, size)
    code: int
    v2: bool

    def script(self, path: Path) -> str:
        parts = []
        for stream, offset, size in self.chunks:
            dd = (
                f"dd if={shlex.quote(str(path))} bs=65536 iflag=skip_bytes,count_bytes "
                f"skip={offset} count={size} status=none"
            )
            parts.append(dd + (" >&2" if stream == "stderr" else ""))
        return "; ".join([*parts, f"exit {self.code}"])

    def expected(self, data: bytes, stream: str) -> bytes:
        return b"".join(data[o : o + n] for s, o, n in self.chunks if s == stream)


def _size(rng: random.Random, max_size: int) -> int:
    roll = rng.random()
    if roll < 0.1:
        return 0
    if roll < 0.15:
        return max_size
    return int(math.exp(rng.uniform(0, math.log(max_size))))


def plans(n: int, max_size: int, rng: random.Random) -> list[Plan]:
    out = []
    for i in range(n):
        sizes = {"stdout": _size(rng, max_size), "stderr": _size(rng, max_size)}
        pieces = rng.randint(1, 3)
        chunks: list[tuple[str, int, int]] = []
        for piece in range(pieces):
            for stream in ("stdout", "stderr") if piece % 2 == 0 else ("stderr", "stdout"):
                total = sizes[stream]
                size = total // pieces + (total % pieces if piece == pieces - 1 else 0)
                chunks.append((stream, rng.randint(0, max_size - size), size))
        out.append(Plan(tuple(chunks), rng.choice([0, 0, 0, 1, 2, 42, 127, 255]), i % 2 == 1))
    return out


# Runs average well under 1 MB per stream; 0.1 s each is generous on two busy cores.
@pytest.mark.timeout(work_timeout(RUNS, 0.1))
async def test_every_byte_and_exit_code_delivered(
    no_leaked_children: None, serve: Serve, tmp_path: Path
) -> None:
    runs = RUNS
    max_size = scaled(1_000_000, 10_000_000)
    rng = random.Random(SEED)
    data = rng.randbytes(max_size)
    source = tmp_path / "random.bin"
    source.write_bytes(data)
    url = await serve()
    checked = {"bytes": 0, "runs": 0}

    async def one(plan: Plan) -> None:
        ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2] if plan.v2 else [])
        try:
            await ws.send_message(start_bytes("sh", "-c", plan.script(source)))
            res = await asyncio.wait_for(collect(ws, timeout=120), 300)
        finally:
            await ws.aclose()
        for stream, got in (("stdout", res.stdout), ("stderr", res.stderr)):
            want = plan.expected(data, stream)
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(want).hexdigest(), (
                stream,
                len(got),
                len(want),
                plan,
            )
            checked["bytes"] += len(got)
        assert (res.exit or {}).get("exit_code") == plan.code, (res.exit, plan)
        assert (res.types[0], res.types[-1]) == ("pid", "exit_code"), res.types[-3:]
        assert res.types.count("exit_code") == 1
        checked["runs"] += 1

    all_plans = plans(runs, max_size, rng)
    await gather_limited(8, [lambda p=p: one(p) for p in all_plans])  # type: ignore[misc]
    assert checked["runs"] == runs
    record(
        "nothing_lost",
        runs=runs,
        max_size=max_size,
        bytes_checked=checked["bytes"],
        exit_codes_checked=runs,
        leaked=0,
    )
