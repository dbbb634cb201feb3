"""The observed Go traffic, byte for byte: every v1 kind decodes, and ours encode the same."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import wsep_protocol as wp

VECTORS: list[dict[str, Any]] = json.loads(
    (pathlib.Path(__file__).with_name("vectors.json")).read_text()
)["vectors"]


def wire(vector: dict[str, Any]) -> bytes:
    return str(vector["wire"]).encode("latin-1")


def expected_message(expect: dict[str, Any]) -> wp.Message:
    """The message object ``expect`` describes."""
    kind = expect["type"]
    if expect.get("unknown"):
        return wp.UnknownMessage(kind)
    if kind == "start":
        fields = dict(expect["command"])
        fields["args"] = tuple(fields["args"])
        fields["env"] = tuple(fields["env"])
        return wp.Start(wp.Command(**fields), id=expect["id"])
    data_classes: dict[str, Any] = {"stdin": wp.Stdin, "stdout": wp.Stdout, "stderr": wp.Stderr}
    if kind in data_classes:
        return data_classes[kind](expect["data"].encode("latin-1"))  # type: ignore[no-any-return]
    if kind == "close_stdin":
        return wp.CloseStdin()
    if kind == "resize":
        return wp.Resize(expect["rows"], expect["cols"])
    if kind == "pid":
        return wp.Pid(expect["pid"])
    assert kind == "exit_code"
    return wp.ExitCode(expect["exit_code"], expect["error"])


def by(predicate: Any) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in VECTORS if predicate(v)]


def test_every_v1_kind_is_covered() -> None:
    kinds = {v["expect"].get("type") for v in VECTORS if "raises" not in v["expect"]}
    assert {
        "start",
        "stdin",
        "close_stdin",
        "resize",
        "pid",
        "stdout",
        "stderr",
        "exit_code",
    } <= kinds
    encoded = {v["expect"]["type"] for v in VECTORS if v["encode"] == "identical"}
    assert {
        "pid",
        "stdout",
        "stderr",
        "exit_code",
        "stdin",
        "close_stdin",
        "resize",
        "start",
    } <= encoded


@pytest.mark.parametrize("vector", by(lambda v: "raises" not in v["expect"]))
def test_decode(vector: dict[str, Any]) -> None:
    data: bytes | str = wire(vector)
    if vector.get("as_text"):
        data = wire(vector).decode("utf-8")
    message = wp.decode(data)
    assert message == expected_message(vector["expect"])
    if isinstance(message, wp.UnknownMessage):
        assert message.type == vector["expect"]["type"]
    status = vector["expect"].get("status")
    if status is not None:
        assert isinstance(message, wp.ExitCode)
        assert message.status == wp.ExitStatus(**status)


@pytest.mark.parametrize("vector", by(lambda v: "raises" not in v["expect"]))
def test_decode_from_memoryview_and_bytearray(vector: dict[str, Any]) -> None:
    expected = expected_message(vector["expect"])
    assert wp.decode(bytearray(wire(vector))) == expected
    assert wp.decode(memoryview(b"pad" + wire(vector))[3:]) == expected


@pytest.mark.parametrize("vector", by(lambda v: "raises" in v["expect"]))
def test_decode_rejects(vector: dict[str, Any]) -> None:
    exc_type = getattr(wp, vector["expect"]["raises"])
    with pytest.raises(exc_type) as info:
        wp.decode(wire(vector))
    assert info.value.close_code == wp.CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("vector", by(lambda v: v["encode"] == "identical"))
def test_encode_is_byte_identical(vector: dict[str, Any]) -> None:
    assert wp.encode(expected_message(vector["expect"])) == wire(vector)


@pytest.mark.parametrize("vector", by(lambda v: v["encode"] == "identical"))
def test_connection_sends_identical_bytes(vector: dict[str, Any]) -> None:
    """The state machine's ``send`` frames exactly as ``encode`` does."""
    message = expected_message(vector["expect"])
    if vector["direction"] == "server":
        conn = wp.Connection(wp.Role.SERVER)
        conn.receive(b'{"type":"start","command":{"command":"cat","stdin":true}}')
        if not isinstance(message, wp.Pid):
            conn.send(wp.Pid(1))
    else:
        conn = wp.Connection(wp.Role.CLIENT)
        if not isinstance(message, wp.Start):
            conn.send(wp.Start(wp.Command("cat", stdin=True, tty=True)))
    assert conn.send(message) == wire(vector)


@pytest.mark.parametrize("vector", by(lambda v: v["encode"] == "differs"))
def test_encode_differs_only_in_form(vector: dict[str, Any]) -> None:
    """Where our bytes differ from Go's (``args: []`` for ``null``) they mean the same."""
    message = expected_message(vector["expect"])
    ours = wp.encode(message)
    assert ours != wire(vector)
    assert wp.decode(ours) == wp.decode(wire(vector)) == message
    assert json.loads(ours) == {**json.loads(wire(vector)), "command": json.loads(ours)["command"]}
    assert json.loads(ours)["command"]["args"] == []
