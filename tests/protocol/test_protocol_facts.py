"""What both sides know, defined once in wsep_protocol: error codes, versions, sizes, framing."""

from __future__ import annotations

import json
import os

import pytest
import wsep_protocol as wp
from wsep_protocol.sessions import NoSuchSession

# The v2 error codes as PROTOCOL.md 8.2 lists them: the bytes on the wire.
WIRE_CODES = {
    "command_not_found",
    "permission_denied",
    "no_such_directory",
    "user_switch_denied",
    "invalid_command",
    "start_failed",
    "malformed_message",
    "message_too_big",
    "protocol_violation",
    "policy_violation",
    "limit_exceeded",
    "server_shutdown",
    "internal_error",
    "no_such_session",
}


def test_error_codes_are_the_wire_strings() -> None:
    assert {code.value for code in wp.ErrorCode} == WIRE_CODES
    for code in wp.ErrorCode:
        assert wp.ErrorCode.parse(code.value) is code
        assert code == code.value  # a str: compares equal to what the wire carries


def test_an_unknown_code_parses_to_none() -> None:
    for text in ("quota_exhausted", "", "COMMAND_NOT_FOUND", "ErrorCode.START_FAILED"):
        assert wp.ErrorCode.parse(text) is None
        assert wp.Error(text, "m").error_code is None


def test_every_start_error_kind_is_a_code_and_back() -> None:
    for kind in wp.StartErrorKind:
        code = wp.ErrorCode(kind.value)
        assert code.start_error_kind is kind
        assert wp.StartError("x", kind=kind).error_code is code
    starts = {code for code in wp.ErrorCode if code.start_error_kind is not None}
    assert len(starts) == len(wp.StartErrorKind)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (wp.WsepError("x"), wp.ErrorCode.INTERNAL_ERROR),
        (wp.LocalProtocolError("x"), wp.ErrorCode.INTERNAL_ERROR),
        (wp.RemoteProtocolError("x"), wp.ErrorCode.PROTOCOL_VIOLATION),
        (wp.ProtocolViolation("x"), wp.ErrorCode.PROTOCOL_VIOLATION),
        (wp.MalformedMessage("x"), wp.ErrorCode.MALFORMED_MESSAGE),
        (wp.MessageTooBig("x"), wp.ErrorCode.MESSAGE_TOO_BIG),
        (wp.PolicyViolation("x"), wp.ErrorCode.POLICY_VIOLATION),
        (NoSuchSession("x"), wp.ErrorCode.NO_SUCH_SESSION),
        (wp.StartError("x"), wp.ErrorCode.START_FAILED),
        (
            wp.StartError("x", kind=wp.StartErrorKind.NO_SUCH_DIRECTORY),
            wp.ErrorCode.NO_SUCH_DIRECTORY,
        ),
    ],
)
def test_each_error_names_its_code(error: wp.WsepError, code: wp.ErrorCode) -> None:
    assert error.error_code is code


def test_an_error_message_from_a_member_has_the_same_bytes() -> None:
    for code in wp.ErrorCode:
        from_member = wp.Error(code, "why", 1008)
        from_text = wp.Error(code.value, "why", 1008)
        assert from_member == from_text
        assert type(from_member.code) is str
        expected = f'{{"type":"error","code":"{code.value}","message":"why","close_code":1008}}\n'
        assert wp.encode(from_member) == expected.encode()
        assert wp.decode(wp.encode(from_member)).error_code is code  # type: ignore[union-attr]


def test_the_spec_example_of_error_decodes_to_a_member() -> None:
    # PROTOCOL.md 8.2, byte for byte.
    wire = (
        b'{"type":"error","code":"command_not_found","message":"exec: \\"nope\\": '
        b'executable file not found in $PATH","close_code":1011}\n'
    )
    message = wp.decode(wire)
    assert isinstance(message, wp.Error)
    assert message.error_code is wp.ErrorCode.COMMAND_NOT_FOUND
    assert wp.encode(message) == wire


# --- versions ------------------------------------------------------------------------------


def test_offered_subprotocols_splits_every_header() -> None:
    assert wp.offered_subprotocols([]) == []
    assert wp.offered_subprotocols(["wsep.v2, wsep.v1", " wsep.token.x ,, "]) == [
        "wsep.v2",
        "wsep.v1",
        "wsep.token.x",
    ]


def test_the_client_offer_and_the_answer_it_reads() -> None:
    V1, V2 = wp.ProtocolVersion.V1, wp.ProtocolVersion.V2
    assert wp.client_offer(V1) == ()  # exactly the Go client
    assert wp.client_offer(V2) == ("wsep.v2", "wsep.v1")
    for version in (V1, V2):
        offer = wp.client_offer(version)
        answer = wp.negotiate(offer, {V1, V2})[1]
        assert wp.selected_version(answer) is version
    assert wp.selected_version(None) is V1
    assert wp.selected_version("") is V1
    assert wp.selected_version("wsep.v1") is V1
    assert wp.selected_version("wsep.v2") is V2


def test_select_version_is_negotiate_without_a_refusal() -> None:
    V1, V2 = wp.ProtocolVersion.V1, wp.ProtocolVersion.V2
    assert wp.select_version(["wsep.v1"]) == wp.negotiate(["wsep.v1"], {V1, V2})
    assert wp.select_version(["wsep.v9", "x"]) == (V1, None)


# --- the default terminal size -------------------------------------------------------------


def test_the_default_terminal_size() -> None:
    assert (wp.DEFAULT_ROWS, wp.DEFAULT_COLS) == (24, 80)
    assert wp.Command("sh", tty=True).terminal_size == (24, 80)
    assert wp.Command("sh", tty=True, rows=50).terminal_size == (50, 80)
    assert wp.Command("sh", tty=True, cols=132).terminal_size == (24, 132)
    assert wp.Command("sh", tty=True, rows=1, cols=2).terminal_size == (1, 2)


# --- framing of data messages --------------------------------------------------------------

# The bytes of data messages as the Go peers send them (and as tests/protocol/vectors.json holds).
DATA_VECTORS = [
    (wp.Stdout, b"hello\n", b'{"type":"stdout"}\nhello\n'),
    (wp.Stderr, b"oops", b'{"type":"stderr"}\noops'),
    (wp.Stdin, b"ls\n", b'{"type":"stdin"}\nls\n'),
    (wp.Stdout, b"", b'{"type":"stdout"}\n'),
    (wp.Stdin, b"\x00\xff\n{", b'{"type":"stdin"}\n\x00\xff\n{'),
]


def _side(kind: type) -> wp.Connection:
    role = wp.Role.CLIENT if kind is wp.Stdin else wp.Role.SERVER
    return wp.Connection(role, wp.ProtocolVersion.V2)


@pytest.mark.parametrize(("kind", "body", "wire"), DATA_VECTORS)
def test_framing_gives_the_vector_bytes(kind: type, body: bytes, wire: bytes) -> None:
    conn = _side(kind)
    header = conn.data_header(kind)
    assert header == wp.DATA_HEADERS[kind]
    for data in (body, bytearray(body), memoryview(b"__" + body)[2:]):
        assert conn.frame_data(header, data) == wire
        assert wp.frame_data(header, data) == wire
        assert conn.frame_buffer(kind).frame(data) == wire
    assert wp.encode(kind(body)) == wire
    assert wp.decode(wire) == kind(body)


def test_the_headers_are_the_v1_vectors() -> None:
    path = os.path.join(os.path.dirname(__file__), "vectors.json")
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)["vectors"]
    texts = json.dumps(vectors)
    for header in (wp.STDOUT_HEADER, wp.STDERR_HEADER, wp.STDIN_HEADER):
        assert header.endswith(b"\n")
        assert json.dumps(header[:-1].decode())[1:-1] in texts


def test_a_frame_buffer_reuses_one_buffer_and_copies_each_body_once() -> None:
    conn = _side(wp.Stdin)
    frames = conn.frame_buffer(wp.Stdin)
    seen: set[int] = set()
    for size in (5, 70_000, 3, 70_000, 0, 1 << 20, 10):
        body = os.urandom(size)
        view = frames.frame(body)
        assert bytes(view) == wp.STDIN_HEADER + body
        assert view.nbytes == len(wp.STDIN_HEADER) + size
        seen.add(id(view.obj))
        view.release()
    assert len(seen) == 1, "one buffer for every message"
    frames.reset()
    view = frames.frame(b"x")
    assert bytes(view) == wp.STDIN_HEADER + b"x"
    assert len(view.obj) < 100  # type: ignore[arg-type]  # the grown buffer was let go
    view.release()


def test_a_side_frames_only_the_data_it_sends() -> None:
    server = wp.Connection(wp.Role.SERVER)
    client = wp.Connection(wp.Role.CLIENT)
    with pytest.raises(wp.LocalProtocolError, match="server cannot send stdin"):
        server.data_header(wp.Stdin)
    for kind in (wp.Stdout, wp.Stderr):
        with pytest.raises(wp.LocalProtocolError, match=f"client cannot send {kind.TYPE}"):
            client.frame_buffer(kind)


def test_the_largest_framed_message_fits_the_limit() -> None:
    for version in wp.ProtocolVersion:
        conn = wp.Connection(wp.Role.SERVER, version)
        header = conn.data_header(wp.Stdout)
        room = conn.max_data_size(header)
        assert len(conn.frame_data(header, bytes(room))) == conn.max_message_size
