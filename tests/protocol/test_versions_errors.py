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
    assert wp.subprotocols_for(wp.ProtocolVersion.V1) == ("wsep.v1",)
    assert wp.subprotocols_for(wp.ProtocolVersion.V2) == ("wsep.v2", "wsep.v1")
    assert (wp.SUBPROTOCOL_V1, wp.SUBPROTOCOL_V2) == ("wsep.v1", "wsep.v2")


V1, V2 = wp.ProtocolVersion.V1, wp.ProtocolVersion.V2
TOKEN = "wsep.token.s3cret"


@pytest.mark.parametrize(
    ("offered", "supported", "expected"),
    [
        ([], {V1, V2}, (V1, None)),
        ([], {V1}, (V1, None)),
        (["wsep.v1", TOKEN], {V1, V2}, (V1, "wsep.v1")),
        (["wsep.v1"], {V1}, (V1, "wsep.v1")),
        (["wsep.v2", "wsep.v1"], {V1}, (V1, "wsep.v1")),
        (["wsep.v1", "wsep.v2"], {V1, V2}, (V2, "wsep.v2")),
        ([TOKEN, " wsep.v2 "], {V2}, (V2, "wsep.v2")),
        (["chat", "wsep.v2"], {V1, V2}, (V2, "wsep.v2")),
    ],
)
def test_negotiate_selects_an_offered_name(
    offered: list[str], supported: set[wp.ProtocolVersion], expected: tuple[object, object]
) -> None:
    assert wp.negotiate(offered, supported) == expected


@pytest.mark.parametrize(
    ("offered", "supported", "says"),
    [
        ([], {V2}, "speaks only wsep.v2"),
        ([TOKEN], {V1, V2}, "token subprotocol entry needs a version next to it"),
        (["wsep.v2"], {V1}, "does not speak wsep.v2; offer wsep.v1"),
        (["wsep.v1", TOKEN], {V2}, "does not speak wsep.v1; offer wsep.v2"),
        (["chat", "x.y"], {V1, V2}, "none of the offered subprotocols is wsep's"),
        (["wsep.v3"], {V1, V2}, "none of the offered"),
    ],
)
def test_negotiate_refuses_what_no_answer_can_satisfy(
    offered: list[str], supported: set[wp.ProtocolVersion], says: str
) -> None:
    """An offer that got no subprotocol back would make a browser abort silently."""
    with pytest.raises(wp.SubprotocolRefused, match=says) as info:
        wp.negotiate(offered, supported)
    assert "s3cret" not in str(info.value)
    assert isinstance(info.value, wp.ProtocolViolation)


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
