"""Version negotiation, limits, the error tree and close codes, Command helpers."""

from __future__ import annotations

import pytest
import wsep_protocol as wp


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ([], (wp.ProtocolVersion.V1, None)),
        (["chat"], (wp.ProtocolVersion.V1, None)),
        (["wsep.v2"], (wp.ProtocolVersion.V2, "wsep.v2")),
        ([" wsep.v2 "], (wp.ProtocolVersion.V2, "wsep.v2")),
        (["wsep.token.s3cret", "wsep.v2"], (wp.ProtocolVersion.V2, "wsep.v2")),
        (["wsep.v2", "wsep.v2"], (wp.ProtocolVersion.V2, "wsep.v2")),
        (["wsep.v3"], (wp.ProtocolVersion.V1, None)),
    ],
)
def test_select_version(offered: list[str], expected: tuple[object, object]) -> None:
    assert wp.select_version(offered) == expected


def test_subprotocols_for() -> None:
    assert wp.subprotocols_for(wp.ProtocolVersion.V1) == ()
    assert wp.subprotocols_for(wp.ProtocolVersion.V2) == (wp.SUBPROTOCOL_V2,)
    assert wp.SUBPROTOCOL_V2 == "wsep.v2"


def test_limits() -> None:
    assert wp.limits_for(wp.ProtocolVersion.V1).max_message_size == 64_000
    v2 = wp.limits_for(wp.ProtocolVersion.V2)
    assert v2.max_message_size == wp.V2_MAX_MESSAGE_SIZE >= 1 << 20
    assert v2.max_header_size == wp.MAX_HEADER_SIZE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (wp.WsepError("x"), 1011),
        (wp.LocalProtocolError("x"), 1011),
        (wp.RemoteProtocolError("x"), 1002),
        (wp.MalformedMessage("x"), 1002),
        (wp.ProtocolViolation("x"), 1002),
        (wp.MessageTooBig("x"), 1009),
        (wp.PolicyViolation("x"), 1008),
        (wp.StartError("x"), 1011),
        (wp.MalformedMessage("x", close_code=wp.CloseCode.INVALID_PAYLOAD), 1007),
    ],
)
def test_close_codes(error: wp.WsepError, code: int) -> None:
    assert error.close_code == code
    assert isinstance(error, wp.WsepError)


def test_start_error_kind() -> None:
    assert wp.StartError("x").kind is wp.StartErrorKind.OTHER
    error = wp.StartError("no ls", kind=wp.StartErrorKind.COMMAND_NOT_FOUND)
    assert error.kind == "command_not_found"
    assert error.reason == "no ls"


def test_truncate_reason_fits_a_close_frame() -> None:
    assert wp.truncate_reason("short") == "short"
    exact = "a" * wp.MAX_REASON_BYTES
    assert wp.truncate_reason(exact) == exact
    cut = wp.truncate_reason("a" * 200)
    assert cut.endswith("...")
    assert len(cut.encode()) == wp.MAX_REASON_BYTES
    wide = wp.truncate_reason("é" * 100)  # never splits a character
    assert len(wide.encode()) <= wp.MAX_REASON_BYTES
    assert wide.endswith("...")
    assert wp.ProtocolViolation("x" * 500).reason == wp.truncate_reason("x" * 500)


def test_command_helpers() -> None:
    command = wp.Command("ls", ("-l",))
    assert command.argv == ("ls", "-l")
    assert not command.stdin_enabled
    assert wp.Command("cat", stdin=True).stdin_enabled
    assert wp.Command("sh", tty=True).stdin_enabled
