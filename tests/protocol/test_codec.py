"""Encoding and decoding beyond the observed vectors: every field rule, every error path."""

from __future__ import annotations

import array
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import wsep_protocol as wp

# --- encoding ------------------------------------------------------------------


def test_encode_json_escapes_like_go() -> None:
    text = "a<b>c&d\u2028e\u2029f"
    assert wp.encode_json({"t": text}) == b'{"t":"a\\u003cb\\u003ec\\u0026d\\u2028e\\u2029f"}'
    assert json.loads(wp.encode_json({"t": text})) == {"t": text}


def test_encode_json_keeps_unicode_raw_and_escapes_controls() -> None:
    assert wp.encode_json({"t": "é✓\n\t\x01"}) == '{"t":"é✓\\n\\t\\u0001"}'.encode()


def test_encode_json_replaces_lone_surrogates_as_go_replaces_invalid_utf8() -> None:
    # os.fsdecode turns an undecodable argv byte into a lone surrogate.
    assert wp.encode_json({"t": "a\udcffb<"}) == '{"t":"a\ufffdb\\u003c"}'.encode()


def test_encode_start_orders_fields_as_go() -> None:
    start = wp.Start(
        wp.Command(
            "sh",
            ("-c", "true"),
            stdin=True,
            tty=True,
            rows=2,
            cols=3,
            uid=4,
            gid=5,
            env=("A=1",),
            working_dir="/w",
        ),
        id="s1",
    )
    assert wp.encode(start) == (
        b'{"type":"start","id":"s1","command":{"command":"sh","args":["-c","true"],'
        b'"stdin":true,"tty":true,"rows":2,"cols":3,"uid":4,"gid":5,"env":["A=1"],'
        b'"working_dir":"/w"}}'
    )


def test_encode_data_messages_accept_any_buffer() -> None:
    assert wp.encode(wp.Stdout(bytearray(b"ab"))) == b'{"type":"stdout"}\nab'
    assert wp.encode(wp.Stderr(memoryview(b"xab")[1:])) == b'{"type":"stderr"}\nab'
    assert wp.encode(wp.Stdin(b"")) == wp.STDIN_HEADER


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (wp.Signal("SIGINT"), b'{"type":"signal","signal":"SIGINT"}\n'),
        (
            wp.Error("command_not_found", "no"),
            b'{"type":"error","code":"command_not_found","message":"no"}\n',
        ),
        (
            wp.Error("policy", "<no>", close_code=1008),
            b'{"type":"error","code":"policy","message":"\\u003cno\\u003e","close_code":1008}\n',
        ),
        (
            wp.ExitCode(-1, "signal: killed", signal="SIGKILL", core_dumped=False),
            b'{"type":"exit_code","exit_code":-1,"error":"signal: killed","signal":"SIGKILL",'
            b'"core_dumped":false}\n',
        ),
        (
            wp.ExitCode(0, "", core_dumped=True),
            b'{"type":"exit_code","exit_code":0,"error":"","core_dumped":true}\n',
        ),
        (wp.UnknownMessage("x", {"type": "y", "n": 1}), b'{"type":"x","n":1}\n'),
    ],
)
def test_encode_v2_and_unknown(message: wp.Message, wire: bytes) -> None:
    assert wp.encode(message) == wire
    assert wp.decode(wire) == message


def test_encode_rejects_non_messages() -> None:
    with pytest.raises(TypeError, match="not a wsep message"):
        wp.encode(object())


@dataclass(frozen=True)
class Ping(wp.ExtensionMessage):
    TYPE: ClassVar[str] = "test_ping"
    n: int

    def encode(self) -> bytes:
        return wp.encode_json({"type": self.TYPE, "n": self.n}) + b"\n"

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Ping:
        n = header["n"]
        assert isinstance(n, int)
        return cls(n)


def test_extension_registries() -> None:
    """An extension message is known to the registry that lists it, and to no other."""
    registry = wp.DEFAULT_REGISTRY.extended(wp.Extension("test", client=(Ping,)))
    assert registry.encode(Ping(3)) == b'{"type":"test_ping","n":3}\n'
    assert registry.decode(b'{"type":"test_ping","n":3}\n') == Ping(3)
    with pytest.raises(TypeError, match="not a registered"):
        wp.encode(Ping(3))


def test_unregistered_extension_type_decodes_as_unknown() -> None:
    message = wp.decode(b'{"type":"test_ping","n":3}\n')
    assert message == wp.UnknownMessage("test_ping")
    assert isinstance(message, wp.UnknownMessage)
    assert message.header == {"type": "test_ping", "n": 3}


# --- decoding: framing and buffers ---------------------------------------------------


def test_data_body_is_a_view_not_a_copy() -> None:
    buf = b'{"type":"stdout"}\n' + b"x" * 1000
    message = wp.decode(buf)
    assert isinstance(message, wp.Stdout)
    assert isinstance(message.data, memoryview)
    assert message.data.obj is buf
    assert message.data == b"x" * 1000


def test_body_may_hold_newlines_and_any_byte() -> None:
    body = bytes(range(256)) + b"\n\n"
    assert wp.decode(wp.STDIN_HEADER + body) == wp.Stdin(body)


def test_data_header_in_other_json_form() -> None:
    """Only the exact Go header takes the fast path; other spellings still decode."""
    assert wp.decode(b'{ "type" : "stdout" , "x": 1}\nabc') == wp.Stdout(b"abc")
    assert wp.decode(b'{"type":"stderr"}') == wp.Stderr(b"")


def test_non_data_message_ignores_a_body() -> None:
    assert wp.decode(b'{"type":"resize","rows":1,"cols":2}\nignored') == wp.Resize(1, 2)


@pytest.mark.parametrize(
    "view",
    [
        memoryview(b'X{"type":"stdin"}\nab')[1:],
        memoryview(b'{"type":"stdin"}\nab').cast("B", shape=[1, 19]),
        memoryview(b'{"type":"stdin"}\nab'.replace(b"", b"-")[1:])[::2],  # non-contiguous
        memoryview(bytearray(b'{"type":"stdin"}\nab')).cast("c"),
    ],
    ids=["slice", "2d", "strided", "char-format"],
)
def test_decode_any_memoryview_shape(view: memoryview) -> None:
    assert wp.decode(view) == wp.Stdin(b"ab")


def test_decode_memoryview_control_message() -> None:
    raw = b'{"type":"pid","pid":7}\n'
    assert wp.decode(memoryview(raw)) == wp.Pid(7)
    ints = array.array("i", [0, 0])
    with pytest.raises(wp.MalformedMessage):
        wp.decode(memoryview(ints))


def test_text_message_is_decoded_as_utf8() -> None:
    assert wp.decode('{"type":"stdin"}\né') == wp.Stdin("é".encode())


def test_text_message_with_lone_surrogate() -> None:
    with pytest.raises(wp.MalformedMessage) as info:
        wp.decode('{"type":"stdin"}\n\ud800')
    assert info.value.close_code == wp.CloseCode.INVALID_PAYLOAD


def test_header_not_utf8() -> None:
    with pytest.raises(wp.MalformedMessage) as info:
        wp.decode(b'{"type":"\xff"}')
    assert info.value.close_code == wp.CloseCode.INVALID_PAYLOAD


# --- decoding: limits -----------------------------------------------------------------


def test_message_size_limit_is_inclusive() -> None:
    exact = wp.STDIN_HEADER + b"x" * (wp.V1_MAX_MESSAGE_SIZE - len(wp.STDIN_HEADER))
    assert len(exact) == 64_000
    assert isinstance(wp.decode(exact, max_size=64_000), wp.Stdin)
    with pytest.raises(wp.MessageTooBig) as info:
        wp.decode(exact + b"x", max_size=64_000)
    assert info.value.close_code == wp.CloseCode.MESSAGE_TOO_BIG
    assert "64001" in str(info.value)


def test_header_size_limit() -> None:
    padded = b'{"type":"pid","pid":1,"pad":"' + b"p" * 100 + b'"}'
    assert wp.decode(padded, max_header_size=len(padded)) == wp.Pid(1)
    assert wp.decode(padded + b"\n", max_header_size=len(padded)) == wp.Pid(1)
    with pytest.raises(wp.MessageTooBig):
        wp.decode(padded, max_header_size=len(padded) - 1)
    with pytest.raises(wp.MessageTooBig):
        wp.decode(padded + b"\nbody", max_header_size=len(padded) - 1)
    with pytest.raises(wp.MessageTooBig):
        wp.decode(memoryview(padded + b"\nbody"), max_header_size=len(padded) - 1)


# --- decoding: malformed headers --------------------------------------------------------


def start(command: Any, **extra: Any) -> bytes:
    return json.dumps({"type": "start", "command": command, **extra}).encode()


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "not valid JSON"),
    (b"hello", "not valid JSON"),
    (b'{"type":"pid","pid":NaN}', "not valid JSON"),
    (b'{"type":"pid","pid":Infinity}', "not valid JSON"),
    (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),  # fits the 64 KiB header limit
    (b'["type"]', "must be a JSON object"),
    (b'"stdin"', "must be a JSON object"),
    (b"{}", "no type"),
    (b'{"type":null}', "no type"),
    (b'{"type":1}', "type must be a string"),
    (b'{"type":"\\ud800"}', "invalid unicode"),
    (b'{"type":"start"}', "start without command"),
    (start(None), "must be an object"),
    (start(["ls"]), "must be an object"),
    (start({}), "must not be empty"),
    (start({"command": ""}), "must not be empty"),
    (start({"command": 1}), "must be a string"),
    (start({"command": "l\x00s"}), "NUL"),
    (start({"command": "\ud800"}), "invalid unicode"),
    (start({"command": "ls", "args": "x"}), "list of strings"),
    (start({"command": "ls", "args": [1]}), "list of strings"),
    (start({"command": "ls", "args": ["a\x00"]}), "NUL"),
    (start({"command": "ls", "args": ["\udc80"]}), "invalid unicode"),
    (start({"command": "ls", "env": ["NOEQUALS"]}), "KEY=VALUE"),
    (start({"command": "ls", "env": ["=x"]}), "KEY=VALUE"),
    (start({"command": "ls", "stdin": 1}), "must be a boolean"),
    (start({"command": "ls", "tty": "true"}), "must be a boolean"),
    (start({"command": "ls", "rows": 65536}), "out of range"),
    (start({"command": "ls", "cols": -1}), "out of range"),
    (start({"command": "ls", "rows": 1.5}), "must be an integer"),
    (start({"command": "ls", "rows": 24.0}), "must be an integer"),
    (start({"command": "ls", "rows": True}), "must be an integer"),
    (start({"command": "ls", "uid": 2**32}), "out of range"),
    (start({"command": "ls", "gid": "0"}), "must be an integer"),
    (start({"command": "ls", "working_dir": "/\x00"}), "NUL"),
    (start({"command": "ls"}, id=5), "must be a string"),
    (start({"command": "ls"}) + b"\nbody", "must not have a body"),
    (b'{"type":"resize","rows":-1,"cols":1}', "out of range"),
    (b'{"type":"resize","rows":"1","cols":1}', "must be an integer"),
    (b'{"type":"pid","pid":-1}', "out of range"),
    (b'{"type":"pid","pid":1e3}', "must be an integer"),
    (b'{"type":"pid","pid":' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'{"type":"exit_code","exit_code":2147483648,"error":""}', "out of range"),
    (b'{"type":"exit_code","exit_code":0,"error":3}', "must be a string"),
    (b'{"type":"exit_code","exit_code":0,"error":"","signal":9}', "signal must be a string"),
    (b'{"type":"exit_code","exit_code":0,"error":"","signal":"\\udfff"}', "invalid unicode"),
    (b'{"type":"exit_code","exit_code":0,"error":"","core_dumped":1}', "must be a boolean"),
    (b'{"type":"signal"}', "unknown signal"),
    (b'{"type":"signal","signal":"SIGNOPE"}', "unknown signal"),
    (b'{"type":"signal","signal":"0"}', "out of range"),
    (b'{"type":"signal","signal":"\\u0661"}', "unknown signal"),
    (b'{"type":"signal","signal":15}', "must be a string"),
    (b'{"type":"error","code":"x","message":"y","close_code":999}', "out of range"),
    (b'{"type":"error","code":1,"message":"y"}', "must be a string"),
]


@pytest.mark.parametrize(("wire", "match"), MALFORMED)
def test_malformed(wire: bytes, match: str) -> None:
    with pytest.raises(wp.MalformedMessage, match=match) as info:
        wp.decode(wire)
    assert info.value.close_code == wp.CloseCode.PROTOCOL_ERROR


# --- decoding: tolerance -----------------------------------------------------------------


def test_null_fields_take_zero_values() -> None:
    wire = start(
        {
            "command": "ls",
            "args": None,
            "stdin": None,
            "rows": None,
            "env": None,
            "working_dir": None,
        },
        id=None,
    )
    assert wp.decode(wire) == wp.Start(wp.Command("ls"))


def test_unknown_fields_are_ignored() -> None:
    wire = start({"command": "ls", "future": {"a": [1]}}, future=True)
    assert wp.decode(wire) == wp.Start(wp.Command("ls"))
    assert wp.decode(b'{"type":"pid","pid":3,"extra":null}') == wp.Pid(3)


def test_duplicate_keys_last_wins_as_in_go() -> None:
    assert wp.decode(b'{"type":"pid","pid":1,"pid":2}') == wp.Pid(2)


def test_whitespace_around_header() -> None:
    assert wp.decode(b' \t{"type":"close_stdin"} \r\n') == wp.CloseStdin()


def test_v2_fields_decode() -> None:
    assert wp.decode(b'{"type":"signal","signal":"term"}') == wp.Signal("term")
    assert wp.decode(b'{"type":"error","code":"c","message":"m"}') == wp.Error("c", "m")
    wire = b'{"type":"exit_code","exit_code":-1,"error":"signal: aborted (core dumped)",'
    wire += b'"signal":"SIGABRT","core_dumped":true}\n'
    assert wp.decode(wire) == wp.ExitCode(-1, "signal: aborted (core dumped)", "SIGABRT", True)


def test_pid_and_exit_code_bounds() -> None:
    assert wp.decode(b'{"type":"pid","pid":9223372036854775807}') == wp.Pid(2**63 - 1)
    wire = b'{"type":"exit_code","exit_code":-2147483648,"error":""}'
    assert wp.decode(wire) == wp.ExitCode(-(2**31))
    wire = b'{"type":"exit_code"}'
    assert wp.decode(wire) == wp.ExitCode(0)
