"""Parse the frame-by-frame transcripts of the Go client talking to the Go server."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DATA", "Connection", "TFrame", "load"]

DATA = Path(__file__).resolve().parents[1] / "server" / "data"

_FRAME = re.compile(
    r"^\s+[\d.]+ (C->S|S->C) (binary|cont|text|close|ping|pong) fin=(\d) rsv1=(\d) "
    r"masked=(\d) len=(\d+) (.*)$"
)


@dataclass
class TFrame:
    direction: str  # "C->S" or "S->C"
    kind: str
    fin: bool
    rsv1: bool
    payload: bytes
    close_code: int | None = None
    close_reason: bytes = b""


@dataclass
class Connection:
    number: int
    request: bytes = b""
    frames: list[TFrame] = field(default_factory=list)


def load(name: str = "go-client-to-go-server.txt") -> list[Connection]:
    conns: list[Connection] = []
    http: list[str] | None = None
    for line in (DATA / name).read_text().splitlines():
        if line.startswith("### connection"):
            conns.append(Connection(int(line.split()[2].rstrip(":"))))
            http = None
            continue
        if line.strip().endswith("C->S HTTP:"):
            http = []
            continue
        if line.strip().endswith("S->C HTTP:"):
            conns[-1].request = ("\r\n".join(http or []) + "\r\n\r\n").encode()
            http = None
            continue
        if http is not None and line.startswith("      "):
            http.append(line.strip())
            continue
        m = _FRAME.match(line)
        if not m:
            continue
        direction, kind, fin, rsv1, _masked, _length, rest = m.groups()
        frame = TFrame(direction, kind, fin == "1", rsv1 == "1", b"")
        if kind == "close":
            cm = re.match(r"code=(\d+) reason=(b'.*')$", rest)
            assert cm, line
            frame.close_code = int(cm.group(1))
            frame.close_reason = ast.literal_eval(cm.group(2))
        else:
            frame.payload = ast.literal_eval(rest)
        conns[-1].frames.append(frame)
    return conns
