"""Property tests: round trips of every message type, and no input makes decoding or the
state machine fail with anything but a wsep error."""

from __future__ import annotations

import json
from typing import Any

import wsep_protocol as wp
from hypothesis import given
from hypothesis import strategies as st

# --- generated messages ------------------------------------------------------------------

text = st.text(max_size=30)
no_nul = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=30
)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
data = st.binary(max_size=300)
signal_names = st.sampled_from(
    ["SIGINT", "SIGTERM", "SIGKILL", "SIGHUP", "SIGWINCH", "SIG42", "term", "9"]
)

env_entries = st.builds(
    lambda k, v: f"{k}={v}", no_nul.filter(lambda k: "=" not in k and k != ""), no_nul
)
commands = st.builds(
    wp.Command,
    command=no_nul.filter(bool),
    args=st.lists(no_nul, max_size=4).map(tuple),
    stdin=st.booleans(),
    tty=st.booleans(),
    rows=u16,
    cols=u16,
    uid=u32,
    gid=u32,
    env=st.lists(env_entries, max_size=3).map(tuple),
    working_dir=no_nul,
)
client_messages: st.SearchStrategy[wp.Message] = st.one_of(
    st.builds(wp.Start, commands, id=text),
    st.builds(wp.Stdin, data),
    st.just(wp.CloseStdin()),
    st.builds(wp.Resize, u16, u16),
    st.builds(wp.Signal, signal_names),
)
server_messages: st.SearchStrategy[wp.Message] = st.one_of(
    st.builds(wp.Pid, st.integers(0, 2**63 - 1)),
    st.builds(wp.Stdout, data),
    st.builds(wp.Stderr, data),
    st.builds(
        wp.ExitCode,
        st.integers(-(2**31), 2**31 - 1),
        text,
        st.none() | signal_names,
        st.none() | st.booleans(),
    ),
    st.builds(wp.Error, text, text, st.none() | st.integers(1000, 4999)),
)
messages = client_messages | server_messages


@given(messages)
def test_round_trip(message: wp.Message) -> None:
    wire = wp.encode(message)
    assert wp.decode(wire) == message
    assert wp.decode(memoryview(wire)) == message
    assert wp.decode(bytearray(wire)) == message


@given(st.builds(wp.Start, commands, id=text))
def test_round_trip_as_text_message(message: wp.Start) -> None:
    assert wp.decode(wp.encode(message).decode("utf-8")) == message


@given(server_messages)
def test_server_messages_end_with_newline_or_body(message: wp.Message) -> None:
    wire = wp.encode(message)
    header, sep, _ = wire.partition(b"\n")
    assert sep == b"\n"
    assert b"<" not in header
    assert b">" not in header
    assert b"&" not in header


# --- decoding never fails with anything else --------------------------------------------


def decode_safely(raw: bytes | str, **limits: Any) -> None:
    try:
        wp.decode(raw, **limits)
    except (wp.MalformedMessage, wp.MessageTooBig):
        pass


@given(st.binary(max_size=400))
def test_arbitrary_bytes(raw: bytes) -> None:
    decode_safely(raw)
    decode_safely(raw, max_size=50, max_header_size=20)


@given(st.text(max_size=200))
def test_arbitrary_text(raw: str) -> None:
    decode_safely(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
type_names = st.sampled_from(
    [
        "start",
        "stdin",
        "close_stdin",
        "resize",
        "signal",
        "pid",
        "stdout",
        "stderr",
        "exit_code",
        "error",
    ]
) | st.text(max_size=10)
field_names = st.sampled_from(
    [
        "command",
        "args",
        "stdin",
        "tty",
        "rows",
        "cols",
        "uid",
        "gid",
        "env",
        "working_dir",
        "id",
        "pid",
        "exit_code",
        "error",
        "signal",
        "core_dumped",
        "code",
        "message",
        "close_code",
    ]
)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    obj: dict[str, Any] = {"type": draw(type_names)}
    obj.update(draw(st.dictionaries(field_names, json_values, max_size=5)))
    if draw(st.booleans()):
        obj["command"] = draw(st.dictionaries(field_names, json_values, max_size=6))
    raw = json.dumps(obj).encode()
    return raw + draw(st.sampled_from([b"", b"\n", b"\nbody"]))


@given(headers())
def test_arbitrary_json_headers(raw: bytes) -> None:
    decode_safely(raw)


@given(messages, st.data())
def test_mutated_valid_messages(message: wp.Message, draw: st.DataObject) -> None:
    wire = bytearray(wp.encode(message))
    for _ in range(draw.draw(st.integers(1, 4))):
        op = draw.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw.draw(st.integers(0, max(len(wire) - 1, 0)))
        if op == "flip" and wire:
            wire[at] ^= 1 << draw.draw(st.integers(0, 7))
        elif op == "insert":
            wire[at:at] = draw.draw(st.binary(min_size=1, max_size=3))
        elif op == "delete" and wire:
            del wire[at]
        else:
            del wire[at:]
    decode_safely(bytes(wire))


# --- the state machine never fails with anything else ------------------------------------

roles = st.sampled_from([wp.Role.CLIENT, wp.Role.SERVER])
versions = st.sampled_from([wp.ProtocolVersion.V1, wp.ProtocolVersion.V2])
wires = messages.map(wp.encode) | headers() | st.binary(max_size=60)
actions = st.lists(st.tuples(st.sampled_from(["send", "receive"]), messages, wires), max_size=25)


@given(roles, versions, actions)
def test_state_machine_raises_only_wsep_errors(
    role: wp.Role, version: wp.ProtocolVersion, steps: list[tuple[str, wp.Message, bytes]]
) -> None:
    conn = wp.Connection(role, version, max_receive_size=2_000)
    for action, message, wire in steps:
        before = conn.state
        try:
            if action == "send":
                out = conn.send(message)
                assert wp.decode(out) == message
            else:
                conn.receive(wire)
        except wp.WsepError:
            pass
        order = list(wp.ConnectionState)
        assert order.index(conn.state) >= order.index(before)  # states only move forward


@given(versions, st.lists(client_messages, max_size=20))
def test_what_a_client_may_send_a_server_accepts(
    version: wp.ProtocolVersion, sequence: list[wp.Message]
) -> None:
    """Everything our client side lets through is legal for our server side."""
    client = wp.Connection(wp.Role.CLIENT, version)
    server = wp.Connection(wp.Role.SERVER, version)
    for message in sequence:
        try:
            wire = client.send(message)
        except wp.LocalProtocolError:
            continue
        server.receive(wire)  # must not raise
        if (
            client.state is wp.ConnectionState.STARTING
            and server.state is wp.ConnectionState.STARTING
        ):
            client.receive(server.send(wp.Pid(1)))


@given(versions, st.lists(server_messages, max_size=20))
def test_what_a_server_may_send_a_client_accepts(
    version: wp.ProtocolVersion, sequence: list[wp.Message]
) -> None:
    client = wp.Connection(wp.Role.CLIENT, version)
    server = wp.Connection(wp.Role.SERVER, version)
    server.receive(client.send(wp.Start(wp.Command("sh", tty=True))))
    for message in sequence:
        try:
            wire = server.send(message)
        except wp.LocalProtocolError:
            continue
        received = client.receive(wire)  # must not raise
        assert received == message or (received is None and not client.extended)
