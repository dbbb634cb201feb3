"""Version 2 (subprotocol wsep.v2): larger messages, signals, exit detail, error messages."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support.proc import wait_until_gone
from support.rawws import RawWebSocket
from support.wire import collect, header, run, start_bytes
from wsep_protocol import SUBPROTOCOL_V2

V2 = (SUBPROTOCOL_V2,)


async def test_v2_selected_and_tokens_never_echoed(make_server: object) -> None:
    from wsep_protocol import ProtocolVersion

    url = await make_server()  # type: ignore[operator]
    ws = await RawWebSocket.connect(url, subprotocols=["wsep.token.secret", "wsep.v2", "other"])
    assert ws.subprotocol == "wsep.v2"
    await ws.aclose()
    ws = await RawWebSocket.connect(url, subprotocols=["wsep.token.secret", "wsep.v1"])
    assert ws.subprotocol == "wsep.v1"
    await ws.aclose()
    v1_only = await make_server(versions=(ProtocolVersion.V1,))  # type: ignore[operator]
    ws = await RawWebSocket.connect(v1_only, subprotocols=["wsep.v2", "wsep.v1"])
    assert ws.subprotocol == "wsep.v1"
    await ws.aclose()


async def test_v2_large_output_messages(wsep_server: str) -> None:
    res = await run(wsep_server, "head", "-c", "4000000", "/dev/zero", subprotocols=V2)
    assert res.stdout == bytes(4_000_000)
    assert max(len(m) for m in res.messages) > 64_000


@pytest.mark.parametrize("code", ["command_not_found", "permission_denied"])
async def test_start_failure_error_message(wsep_server: str, tmp_path: Path, code: str) -> None:
    if code == "permission_denied":
        script = tmp_path / "not-executable"
        script.write_text("#!/bin/sh\necho no\n")
        script.chmod(0o644)
        assert not os.stat(script).st_mode & stat.S_IXUSR
        argv: tuple[str, ...] = (str(script),)
    else:
        argv = ("definitely-not-a-command-xyz",)
    words = argv[0]
    ws = await RawWebSocket.connect(wsep_server, subprotocols=V2)
    await ws.send_message(start_bytes(*argv))
    res = await collect(ws)
    assert res.types == ["error"]
    assert res.errors[0]["code"] == code
    assert words in str(res.errors[0]["message"])
    assert res.close is not None
    assert res.close[0] == 1011
    assert res.errors[0]["close_code"] == 1011


async def test_no_such_working_directory(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server, subprotocols=V2)
    await ws.send_message(start_bytes("pwd", working_dir="/no/such/dir"))
    res = await collect(ws)
    assert res.errors[0]["code"] == "no_such_directory"
    assert "/no/such/dir" in str(res.errors[0]["message"])


async def test_protocol_violation_error_message(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server, subprotocols=V2)
    await ws.send_message(b'{"type":"stdin"}\nabc')
    res = await collect(ws)
    assert res.errors == [
        {
            "type": "error",
            "code": "protocol_violation",
            "message": "stdin before start",
            "close_code": 1002,
        }
    ]
    assert res.close == (1002, "stdin before start")
    ws = await RawWebSocket.connect(wsep_server, subprotocols=V2)
    await ws.send_message(b'{"type":"start","command":{"command":"x","rows":-1}}')
    res = await collect(ws)
    assert res.errors[0]["code"] == "malformed_message"
    assert res.close is not None
    assert res.close[0] == 1002


async def test_signal_to_process_group(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server, subprotocols=V2)
    # The child of sh must get the signal too: it is in the same process group.
    await ws.send_message(start_bytes("sh", "-c", "sleep 30 & echo ready; wait"))
    _, pid_msg = await ws.recv_message()
    pid = int(header(pid_msg)["pid"])  # type: ignore[call-overload]
    _, ready = await ws.recv_message()
    assert ready == b'{"type":"stdout"}\nready\n'
    await ws.send_message(b'{"type":"signal","signal":"SIGTERM"}\n')
    res = await collect(ws)
    assert res.exit == {
        "type": "exit_code",
        "exit_code": -1,
        "error": "signal: terminated",
        "signal": "SIGTERM",
        "core_dumped": False,
    }
    assert await wait_until_gone(pid) == []


async def test_signal_ignored_in_v1(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("sh", "-c", "read x; echo got $x", stdin=True))
    await ws.send_message(b'{"type":"signal","signal":"SIGKILL"}\n')  # unknown to v1
    await ws.send_message(b'{"type":"stdin"}\nok\n')
    res = await collect(ws)
    assert res.stdout == b"got ok\n"
    assert res.exit == {"type": "exit_code", "exit_code": 0, "error": ""}


async def test_exit_status_names_signal_and_core(wsep_server: str) -> None:
    res = await run(wsep_server, "sh", "-c", "kill -9 $$", subprotocols=V2)
    assert res.exit == {
        "type": "exit_code",
        "exit_code": -1,
        "error": "signal: killed",
        "signal": "SIGKILL",
        "core_dumped": False,
    }
    res = await run(wsep_server, "sh", "-c", "ulimit -c 0; kill -SEGV $$", subprotocols=V2)
    assert res.exit is not None
    assert res.exit["signal"] == "SIGSEGV"
    assert str(res.exit["error"]).startswith("signal: segmentation fault")
    res = await run(wsep_server, "sh", "-c", "kill -9 $$")  # v1: Go's fields only
    assert res.exit == {"type": "exit_code", "exit_code": -1, "error": "signal: killed"}


async def test_too_big_message_reported_in_v2(make_server: object) -> None:
    from wsep_server import ServerConfig

    url = await make_server(config=ServerConfig(max_receive_size=10_000))  # type: ignore[operator]
    ws = await RawWebSocket.connect(url, subprotocols=V2)
    await ws.send_message(start_bytes("cat", stdin=True))
    _, pid_msg = await ws.recv_message()
    pid = int(header(pid_msg)["pid"])  # type: ignore[call-overload]
    await ws.send_message(b'{"type":"stdin"}\n' + b"x" * 20_000)
    res = await collect(ws)
    assert res.errors[0]["code"] == "message_too_big"
    assert res.errors[0]["close_code"] == 1009
    assert res.close is not None
    assert res.close[0] == 1009
    assert await wait_until_gone(pid) == []


@pytest.mark.parametrize(
    ("versions", "offer", "says"),
    [
        ((1, 2), ["wsep.token.secret"], "needs a version next to it"),
        ((1,), ["wsep.v2"], "does not speak wsep.v2; offer wsep.v1"),
        ((1, 2), ["chat"], "none of the offered subprotocols"),
        ((2,), [], "speaks only wsep.v2"),
    ],
)
async def test_unanswerable_offers_get_400_before_the_upgrade(
    make_server: object, versions: tuple[int, ...], offer: list[str], says: str
) -> None:
    """A 101 without the offered subprotocol makes browsers abort with no reason."""
    from support.rawws import HandshakeError
    from wsep_protocol import ProtocolVersion

    url = await make_server(versions=tuple(ProtocolVersion(v) for v in versions))  # type: ignore[operator]
    with pytest.raises(HandshakeError) as info:
        await RawWebSocket.connect(url, subprotocols=offer)
    assert info.value.status == 400
    assert says in info.value.headers["x-wsep-error"]
    assert says in info.value.body.decode()
    assert "secret" not in info.value.body.decode()


async def test_v2_only_server_serves_v2(make_server: object) -> None:
    from wsep_protocol import ProtocolVersion

    url = await make_server(versions=(ProtocolVersion.V2,))  # type: ignore[operator]
    res = await run(url, "echo", "hi", subprotocols=V2)
    assert res.stdout == b"hi\n"
