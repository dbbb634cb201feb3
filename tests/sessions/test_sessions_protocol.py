"""The session extension's messages: encoding, decoding, validation."""

from __future__ import annotations

import json

import pytest
from wsep_protocol import Command, MalformedMessage, decode, encode
from wsep_protocol.sessions import (
    Attach,
    Attached,
    ClientInfo,
    EndSession,
    Gap,
    GetSession,
    ListSessions,
    SessionDescription,
    SessionDetails,
    SessionEnded,
    SessionList,
)

DESCRIPTION = SessionDescription(
    id="work",
    argv=("bash", "-l"),
    tty=True,
    resumable=False,
    pid=42,
    created=1700000000.5,
    state="running",
    clients=(ClientInfo("127.0.0.1:5000", False, 1700000001.25, 24, 80),),
    exit_code=None,
    owner="alice",
    rows=24,
    cols=80,
)

MESSAGES = [
    Attach("work"),
    Attach(
        "job",
        Command("sh", ("-c", "seq 10"), stdin=True),
        resumable=True,
        read_only=False,
        rows=30,
        cols=100,
        stdout_offset=123,
        stderr_offset=0,
    ),
    Attach("work", read_only=True),
    ListSessions(),
    GetSession("work"),
    EndSession("work"),
    Attached("work", created=True, tty=True),
    Attached("job", False, False, True, True, 10, 20),
    Gap("stdout", 5, 1000),
    SessionList(()),
    SessionList((DESCRIPTION, SessionDescription("x", (), False, True, 1, 0.0, "exited", (), 3))),
    SessionDetails(DESCRIPTION),
    SessionEnded("work"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: object) -> None:
    data = encode(message)
    assert data.endswith(b"\n")
    assert decode(data) == message
    assert json.loads(data)["type"] == message.TYPE  # type: ignore[attr-defined]


def test_attach_wire_form() -> None:
    assert encode(Attach("s", read_only=True)) == (
        b'{"type":"attach","id":"s","resumable":false,"read_only":true,"rows":0,"cols":0}\n'
    )
    # Absent members take their defaults; offsets stay "not given".
    assert decode(b'{"type":"attach","id":"s"}') == Attach("s")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b'{"type":"attach"}', "attach.id must not be empty"),
        (b'{"type":"attach","id":""}', "attach.id must not be empty"),
        (b'{"type":"attach","id":"a\\u0000"}', "NUL"),
        (b'{"type":"attach","id":"s","stdout_offset":-1}', "out of range"),
        (b'{"type":"attach","id":"s","read_only":1}', "boolean"),
        (b'{"type":"attach","id":"s","command":{"command":""}}', "must not be empty"),
        (b'{"type":"session_info"}', "session_info.id"),
        (b'{"type":"end_session","id":7}', "string"),
        (b'{"type":"gap","stream":"stdin","offset":0,"length":1}', "gap.stream"),
        (b'{"type":"sessions","sessions":{}}', "must be a list"),
        (b'{"type":"sessions","sessions":[1]}', "must be an object"),
        (b'{"type":"session","session":{"argv":[1]}}', "argv"),
        (b'{"type":"session","session":{"clients":{}}}', "clients must be a list"),
        (b'{"type":"session","session":{"clients":[1]}}', "entries must be objects"),
        (b'{"type":"session","session":{"owner":1}}', "owner"),
        (b'{"type":"session","session":{"created":"x"}}', "number"),
    ],
)
def test_invalid_messages_are_malformed(raw: bytes, match: str) -> None:
    with pytest.raises(MalformedMessage, match=match):
        decode(raw)


def test_lenient_description() -> None:
    details = decode(b'{"type":"session","session":{"id":"x","argv":null,"clients":null}}')
    assert isinstance(details, SessionDetails)
    assert details.session.argv == ()
    assert details.session.clients == ()
    assert decode(b'{"type":"sessions"}') == SessionList(())
