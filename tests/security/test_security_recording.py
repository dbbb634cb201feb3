"""Session recording: TTY sessions of identities whose policy says so, as asciicast v2."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from support.security import TOKENS, MakeSecure, attempt, auth, start_message


async def test_tty_session_is_recorded(make_secure_server: MakeSecure) -> None:
    server = await make_secure_server()
    work = str(server.layout.work)
    start = start_message(
        "/usr/bin/printf",
        "h\\303\\251llo %s\\n",
        "w",
        tty=True,
        rows=30,
        cols=100,
        working_dir=work,
    )
    out = await attempt(server.url, start, headers=auth(TOKENS["recorded"]))
    assert out.exit is not None
    assert "héllo w".encode() in out.stdout
    files = sorted(server.layout.record_dir.iterdir())
    assert len(files) == 1, files
    cast = files[0]
    assert cast.suffix == ".cast"
    assert "-recorded-" in cast.name
    assert (os.stat(cast).st_mode & 0o777) == 0o600
    header, *events = (json.loads(line) for line in cast.read_text().splitlines())
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (100, 30)
    assert header["title"].startswith("/usr/bin/printf")
    assert events
    assert all(kind == "o" for _, kind, _ in events)
    times = [t for t, _, _ in events]
    assert times == sorted(times)
    assert "héllo w" in "".join(text for _, _, text in events)


async def test_unrecorded_sessions_leave_no_file(make_secure_server: MakeSecure) -> None:
    server = await make_secure_server()
    work = str(server.layout.work)
    tty = start_message("/usr/bin/echo", "x", tty=True, working_dir=work)
    pipes = start_message("/usr/bin/echo", "x", working_dir=work)
    assert (await attempt(server.url, tty, headers=auth(TOKENS["alice"]))).exit is not None
    assert (await attempt(server.url, pipes, headers=auth(TOKENS["recorded"]))).exit is not None
    assert list(server.layout.record_dir.iterdir()) == []


def test_asciicast_encoder() -> None:
    from wsep_server.recording import AsciicastEncoder

    enc = AsciicastEncoder(started=100.0)
    head = json.loads(enc.header(width=80, height=24, timestamp=1234.5, env={"TERM": "xterm"}))
    assert head == {
        "version": 2,
        "width": 80,
        "height": 24,
        "timestamp": 1234,
        "env": {"TERM": "xterm"},
    }
    euro = "€".encode()
    assert enc.output(euro[:2], now=100.5) == ""  # a character split across reads waits
    assert json.loads(enc.output(euro[2:] + b"!", now=101.0)) == [1.0, "o", "€!"]
    assert json.loads(enc.resize(40, 120, now=102.25)) == [2.25, "r", "120x40"]
    assert json.loads(enc.output(b"\xff", now=103.0)) == [3.0, "o", "\ufffd"]


async def test_recording_request_applies_to_one_start_only() -> None:
    from wsep_server.recording import request_recording, take_recording_request

    request_recording(identity="a", argv=["x"], path="/x")
    first = take_recording_request()
    assert first is not None
    assert first.identity == "a"
    assert take_recording_request() is None


async def test_recording_execer_on_its_own(tmp_path: Path, no_leaked_children: None) -> None:
    """Without a server: the plain read() path, resizes, and the process passing through."""
    from wsep_protocol import Command
    from wsep_server.local import LocalExecer
    from wsep_server.recording import RecordingExecer, request_recording

    execer = RecordingExecer(LocalExecer(grace_period=1.0, output_linger=0.2), tmp_path / "c")
    assert execer.resolve(Command("sh")) == LocalExecer().resolve(Command("sh"))
    script = "read x; echo got $x; stty size"
    request_recording(identity="who/../ami", argv=["sh", "-c", script], path="/bin/sh")
    command = Command("/bin/sh", ("-c", script), tty=True, rows=10, cols=40)
    proc = await execer.start(command)
    await proc.resize(20, 60)
    proc.stdin.write(b"hi\n")
    await proc.stdin.drain()
    out = b""
    while chunk := await asyncio.wait_for(proc.stdout.read(65536), 30):
        out += chunk
    assert await proc.stderr.read(10) == b""
    status = await asyncio.wait_for(proc.wait(), 30)
    await proc.close()
    assert status.code == 0
    assert b"got hi" in out
    assert b"20 60" in out
    (cast,) = (tmp_path / "c").iterdir()
    assert "-who_.._ami-" in cast.name  # no path tricks through the identity name
    header, *events = (json.loads(line) for line in cast.read_text().splitlines())
    assert (header["width"], header["height"]) == (40, 10)
    assert [int(n) for n in next(e[2] for e in events if e[1] == "r").split("x")] == [60, 20]
    text = "".join(e[2] for e in events if e[1] == "o")
    assert "got hi" in text
    assert "20 60" in text
    # a start without a pending request is not recorded and not wrapped
    plain = await execer.start(Command("/bin/true"))
    assert isinstance(plain, type(proc._inner))  # type: ignore[attr-defined]
    await plain.wait()
    await plain.close()


async def test_a_failing_recorder_loses_the_recording_not_the_output(
    make_secure_server: MakeSecure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder only observes: its failure never ends the session nor drops output."""
    from wsep_server.recording import AsciicastEncoder

    def broken(self: AsciicastEncoder, data: object, now: object = None, **kwargs: object) -> str:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(AsciicastEncoder, "output", broken)
    server = await make_secure_server()
    work = str(server.layout.work)
    start = start_message("/usr/bin/seq", "1", "20000", tty=True, working_dir=work)
    out = await attempt(server.url, start, headers=auth(TOKENS["recorded"]))
    assert out.exit is not None
    assert out.exit["exit_code"] == 0
    assert out.stdout.split(b"\r\n")[:20000] == [str(i).encode() for i in range(1, 20001)]
