"""Version 1 on the wire: the Go client's exact bytes, and the Go error table done better."""

from __future__ import annotations

import re
import zlib

import pytest
from support import transcript
from support.proc import proc_stat, wait_until_gone
from support.rawws import OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, RawWebSocket, build_frame
from support.wire import collect, header, run, start_bytes

V1_LIMIT = 64_000


def _norm(data: bytes) -> bytes:
    data = re.sub(rb'"pid":\d+', b'"pid":N', data)
    return re.sub(rb"/dev/pts/\d+", b"/dev/pts/N", data)


def _inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def _expected_server_messages(conn: transcript.Connection) -> list[tuple[int, bytes]]:
    """(index of the frame that completes it, message) for every server message."""
    out: list[tuple[int, bytes]] = []
    parts: list[bytes] = []
    for i, f in enumerate(conn.frames):
        if f.direction != "S->C" or f.kind == "close":
            continue
        parts.append(f.payload)
        if f.fin:
            out.append((i, b"".join(parts)))
            parts = []
    return out


class Replay:
    """Reads server frames, checking each is one unfragmented, unmasked, uncompressed
    binary message of at most 64,000 bytes."""

    def __init__(self, ws: RawWebSocket) -> None:
        self.ws = ws
        self.control: list[bytes] = []
        self.data: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.close: tuple[int | None, bytes] | None = None

    async def read_one(self) -> None:
        frame = await self.ws.recv_frame()
        assert frame.fin
        assert not frame.rsv1
        assert not frame.masked
        if frame.opcode == OP_CLOSE:
            self.close = (frame.close_code, frame.payload[2:])
            return
        assert frame.opcode == OP_BINARY
        assert len(frame.payload) <= V1_LIMIT
        kind = header(frame.payload)["type"]
        if kind in self.data:
            assert frame.payload.startswith(b'{"type":"%s"}\n' % kind.encode())  # type: ignore[str-bytes-safe]
            self.data[str(kind)] += frame.payload.partition(b"\n")[2]
        else:
            self.control.append(frame.payload)

    async def catch_up(self, expected: list[bytes]) -> None:
        """Read until everything in ``expected`` (Go's messages so far) has arrived."""
        want_control = [m for m in expected if header(m)["type"] not in self.data]
        want = {k: b"".join(m.partition(b"\n")[2] for m in expected if header(m)["type"] == k)
                for k in self.data}  # fmt: skip
        while len(self.control) < len(want_control) or any(
            len(_norm(bytes(self.data[k]))) < len(_norm(want[k])) for k in want
        ):
            await self.read_one()


GO_TTY_DEFAULT = b"80 24\r\n"  # Go swaps rows and columns when none are given
OUR_TTY_DEFAULT = b"24 80\r\n"


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
async def test_go_client_replay_gets_go_server_bytes(
    no_leaked_children: None, wsep_server: str, number: int
) -> None:
    conn = next(c for c in transcript.load() if c.number == number)
    ws = await RawWebSocket.connect(wsep_server, raw_request=conn.request)
    # Deflate was offered, exactly as the Go client does; we decline it.
    assert "sec-websocket-extensions" not in ws.headers
    assert ws.subprotocol is None
    expected = _expected_server_messages(conn)
    replay = Replay(ws)
    frames = conn.frames
    i = 0
    while i < len(frames):
        f = frames[i]
        if f.direction == "S->C":
            i += 1
            continue
        await replay.catch_up([m for idx, m in expected if idx < i])
        if f.kind == "close":
            await ws.close(f.close_code or 1000, f.close_reason.decode())
        elif f.rsv1:
            # A permessage-deflate frame: we did not negotiate deflate, so send what
            # it holds, uncompressed, in the same fragments (data, then empty finals).
            j, compressed = i, b""
            while True:
                compressed += frames[j].payload
                if frames[j].fin or not frames[j + 1].payload:
                    break
                j += 1
            await ws.send_frame(OP_BINARY, _inflate(compressed), fin=False)
            i = j + 1
            continue
        else:
            opcode = {"binary": OP_BINARY, "text": OP_TEXT, "cont": OP_CONT}[f.kind]
            await ws.send_frame(opcode, f.payload, fin=f.fin)
        i += 1
    while replay.close is None:
        await replay.read_one()
    assert await ws.at_eof()
    await ws.aclose()

    go_control = [m for _, m in expected if header(m)["type"] in ("pid", "exit_code")]
    assert [_norm(m) for m in replay.control] == [_norm(m) for m in go_control]
    for kind in ("stdout", "stderr"):
        go = b"".join(m.partition(b"\n")[2] for _, m in expected if header(m)["type"] == kind)
        if number == 5:
            go = go.replace(GO_TTY_DEFAULT, OUR_TTY_DEFAULT)
        assert _norm(bytes(replay.data[kind])) == _norm(go)
    go_close = next(f for f in frames if f.direction == "S->C" and f.kind == "close")
    assert replay.close == (go_close.close_code, go_close.close_reason)


async def test_text_start_and_trailing_newline(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("sh", "-c", "echo hi").decode())  # text message
    res = await collect(ws)
    assert res.stdout == b"hi\n"
    assert res.messages[-1] == b'{"type":"exit_code","exit_code":0,"error":""}\n'
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("echo", "x") + b"\n", fragments=3)
    res = await collect(ws)
    assert res.types == ["pid", "stdout", "exit_code"]
    assert res.messages[1] == b'{"type":"stdout"}\nx\n'


async def test_stdin_forms_and_unknown_types(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("wc", "-c", stdin=True))
    await ws.send_message(b'{"type":"stdin"}')  # no body: a no-op
    await ws.send_message(b'{"type":"bogus","x":1}\nxyz')  # unknown: ignored
    await ws.send_message(b'{"type":"stdin"}\n12345', fragments=4)
    await ws.send_message(b'{"type":"close_stdin"}')  # without the trailing newline
    res = await collect(ws)
    assert res.stdout == b"5\n"
    assert res.exit == {"type": "exit_code", "exit_code": 0, "error": ""}


async def test_large_stdin_message_from_v1_peer(wsep_server: str) -> None:
    # The Go client can send stdin messages over 64,000 bytes; we accept them.
    data = bytes(range(256)) * 1000
    res = await run(wsep_server, "wc", "-c", input=data)
    assert res.stdout.strip() == str(len(data)).encode()


async def test_message_over_configured_maximum_gets_1009(make_server: object) -> None:
    from wsep_server import ServerConfig

    url = await make_server(config=ServerConfig(max_receive_size=100_000))  # type: ignore[operator]
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("cat", stdin=True))
    _opcode, pid_msg = await ws.recv_message()
    pid = int(header(pid_msg)["pid"])  # type: ignore[call-overload]
    await ws.send_message(b'{"type":"stdin"}\n' + b"x" * 100_001)
    code, reason = await ws.recv_close()
    assert code == 1009
    assert "100001" in reason or "too big" in reason
    assert len(reason.encode()) <= 123
    assert await wait_until_gone(pid) == []


async def test_message_of_exactly_the_configured_maximum_is_accepted(make_server: object) -> None:
    from wsep_server import ServerConfig

    url = await make_server(config=ServerConfig(max_receive_size=100_000))  # type: ignore[operator]
    header_bytes = b'{"type":"stdin"}\n'
    body = b"x" * (100_000 - len(header_bytes))
    res = await run(url, "wc", "-c", input=body)  # one message of exactly 100,000 bytes
    assert res.stdout.strip() == str(len(body)).encode()


async def test_output_messages_stay_within_64000_bytes(wsep_server: str) -> None:
    res = await run(wsep_server, "head", "-c", "1000000", "/dev/zero")
    assert res.stdout == bytes(1_000_000)
    assert all(len(m) <= V1_LIMIT for m in res.messages)
    assert max(len(m) for m in res.messages) > 32_768  # larger than Go's, still within v1


# --- the Go error table (PROTOCOL-v1.md "Errors"): specific codes and reasons ---------


async def _expect_close(ws: RawWebSocket, code: int, words: str) -> str:
    got_code, reason = await ws.recv_close()
    assert got_code == code, reason
    assert words in reason
    assert 0 < len(reason.encode()) <= 123
    await ws.close(got_code)  # answer the close, as a client should; then TCP ends
    assert await ws.at_eof(timeout=2.0)
    return reason


async def test_command_not_found(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("definitely-not-a-command-xyz", "a"))
    await _expect_close(ws, 1011, "definitely-not-a-command-xyz")


async def test_first_message_not_json(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(b"hello, not json")
    await _expect_close(ws, 1002, "JSON")


async def _started(url: str, *argv: str, **kw: object) -> tuple[RawWebSocket, int]:
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes(*argv, **kw))  # type: ignore[arg-type]
    _, msg = await ws.recv_message()
    assert header(msg)["type"] == "pid"
    return ws, int(header(msg)["pid"])  # type: ignore[call-overload]


async def test_not_json_after_start_kills_process(wsep_server: str) -> None:
    ws, pid = await _started(wsep_server, "cat", stdin=True)
    await ws.send_message(b"garbage")
    await _expect_close(ws, 1002, "JSON")
    assert await wait_until_gone(pid) == []


async def test_second_start(wsep_server: str) -> None:
    ws, pid = await _started(wsep_server, "sleep", "30")
    await ws.send_message(start_bytes("true"))
    await _expect_close(ws, 1002, "second start")
    assert await wait_until_gone(pid) == []


async def test_resize_before_start(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(b'{"type":"resize","rows":40,"cols":100}')
    await _expect_close(ws, 1002, "resize before start")


async def test_stdin_before_start_no_hang(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(b'{"type":"stdin"}\nabc')
    await _expect_close(ws, 1002, "stdin before start")


async def test_stdin_when_not_enabled(wsep_server: str) -> None:
    ws, pid = await _started(wsep_server, "sleep", "30")
    await ws.send_message(b'{"type":"stdin"}\nabc')
    await _expect_close(ws, 1002, "stdin was not enabled")
    assert await wait_until_gone(pid) == []


async def test_start_with_body(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("echo", "x") + b"\nbody")
    await _expect_close(ws, 1002, "body")


async def test_frame_level_errors_have_reasons(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_raw(build_frame(OP_BINARY, b"x", rsv1=True))  # no extension negotiated
    await _expect_close(ws, 1002, "reserved bits")
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_raw(build_frame(OP_CONT, b"x"))
    await _expect_close(ws, 1002, "Continuation")
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_raw(build_frame(OP_TEXT, b"\xff\xfe"))
    await _expect_close(ws, 1007, "UTF-8")


@pytest.mark.parametrize("how", ["close", "drop"])
async def test_disconnect_kills_process(wsep_server: str, how: str) -> None:
    ws, pid = await _started(wsep_server, "sleep", "30")
    if how == "close":
        await ws.close(1001, "going away")
        code, reason = await ws.recv_close()
        assert (code, reason) == (1001, "going away")  # echoed, as Go does
    else:
        ws.abort()
    assert await wait_until_gone(pid) == []
    assert proc_stat(pid) is None or proc_stat(pid)[0] == "Z"  # type: ignore[index]
