"""The connection state machine, rule by rule, from both sides."""

from __future__ import annotations

from pathlib import Path

import pytest
import wsep_protocol as wp
from support.typecheck import strict_mypy
from wsep_protocol import ConnectionState as S

V1, V2 = wp.ProtocolVersion.V1, wp.ProtocolVersion.V2
PIPE_STDIN = wp.Command("cat", stdin=True)
PIPE_NO_STDIN = wp.Command("sleep", ("1",))
TTY = wp.Command("sh", tty=True)


def server(
    command: wp.Command | None = PIPE_STDIN, version: wp.ProtocolVersion = V1
) -> wp.Connection:
    """A server connection that has received ``start`` (none if ``command`` is None)."""
    conn = wp.Connection(wp.Role.SERVER, version)
    if command is not None:
        assert conn.receive(wp.encode(wp.Start(command))) == wp.Start(command)
    return conn


def running_server(
    command: wp.Command = PIPE_STDIN, version: wp.ProtocolVersion = V1
) -> wp.Connection:
    conn = server(command, version)
    conn.send(wp.Pid(42))
    return conn


def client(
    command: wp.Command | None = PIPE_STDIN, version: wp.ProtocolVersion = V1
) -> wp.Connection:
    """A client connection that has sent ``start`` (none if ``command`` is None)."""
    conn = wp.Connection(wp.Role.CLIENT, version)
    if command is not None:
        conn.send(wp.Start(command))
    return conn


def running_client(
    command: wp.Command = PIPE_STDIN, version: wp.ProtocolVersion = V1
) -> wp.Connection:
    conn = client(command, version)
    assert conn.receive(b'{"type":"pid","pid":42}\n') == wp.Pid(42)
    return conn


# --- a whole session, both sides in lockstep ------------------------------------------


@pytest.mark.parametrize("version", [V1, V2])
def test_full_session_both_sides(version: wp.ProtocolVersion) -> None:
    c = wp.Connection(wp.Role.CLIENT, version)
    s = wp.Connection(wp.Role.SERVER, version)
    assert repr(c) == f"<Connection client v{int(version)} awaiting_start>"

    def c2s(message: wp.Message) -> wp.Message | None:
        return s.receive(c.send(message))

    def s2c(message: wp.Message) -> wp.Message | None:
        return c.receive(s.send(message))

    start = wp.Start(wp.Command("sh", tty=True, rows=24, cols=80), id="sess")
    assert c2s(start) == start
    assert s.command == start.command
    assert s.session_id == "sess"
    assert c.state is s.state is S.STARTING
    assert s2c(wp.Pid(7)) == wp.Pid(7)
    assert c.state is s.state is S.RUNNING
    assert c2s(wp.Stdin(b"ls\n")) == wp.Stdin(b"ls\n")
    assert c2s(wp.Resize(40, 100)) == wp.Resize(40, 100)
    assert s2c(wp.Stdout(b"out")) == wp.Stdout(b"out")
    assert s2c(wp.Stderr(b"err")) == wp.Stderr(b"err")
    assert c2s(wp.CloseStdin()) == wp.CloseStdin()
    assert s2c(wp.ExitCode(0)) == wp.ExitCode(0)
    assert c.state is s.state is S.EXITED


# --- start: first and once ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [wp.Stdin(b"abc"), wp.CloseStdin(), wp.Resize(40, 100)],
    ids=["stdin", "close_stdin", "resize"],
)
def test_server_rejects_input_before_start(message: wp.Message) -> None:
    conn = server(None)
    with pytest.raises(wp.ProtocolViolation, match="before start") as info:
        conn.receive(wp.encode(message))
    assert info.value.close_code == wp.CloseCode.PROTOCOL_ERROR
    assert conn.state is S.AWAITING_START


def test_server_rejects_signal_before_start_in_v2() -> None:
    with pytest.raises(wp.ProtocolViolation, match="before start"):
        server(None, V2).receive(wp.encode(wp.Signal("SIGINT")))


@pytest.mark.parametrize("state", ["starting", "running", "exited"])
def test_server_rejects_a_second_start(state: str) -> None:
    conn = server()
    if state != "starting":
        conn.send(wp.Pid(1))
    if state == "exited":
        conn.send(wp.ExitCode(0))
    with pytest.raises(wp.ProtocolViolation, match="second start"):
        conn.receive(wp.encode(wp.Start(wp.Command("true"))))


def test_client_sends_start_once_and_first() -> None:
    conn = client(None)
    with pytest.raises(wp.LocalProtocolError, match="before start"):
        conn.send(wp.Stdin(b"x"))
    conn.send(wp.Start(PIPE_STDIN))
    with pytest.raises(wp.LocalProtocolError, match="only once"):
        conn.send(wp.Start(PIPE_STDIN))


# --- stdin --------------------------------------------------------------------------------


def test_server_rejects_stdin_when_not_enabled() -> None:
    conn = running_server(PIPE_NO_STDIN)
    with pytest.raises(wp.ProtocolViolation, match="not enabled"):
        conn.receive(b'{"type":"stdin"}\nabc')


def test_tty_always_takes_stdin() -> None:
    assert running_server(TTY).receive(b'{"type":"stdin"}\nx') == wp.Stdin(b"x")
    running_client(TTY).send(wp.Stdin(b"x"))


def test_stdin_may_arrive_before_pid() -> None:
    """The client need not wait for ``pid`` to write input (the Go client does not)."""
    assert server(PIPE_STDIN).receive(b'{"type":"stdin"}\nx') == wp.Stdin(b"x")
    client(PIPE_STDIN).send(wp.Stdin(b"x"))


def test_server_rejects_stdin_after_close_stdin() -> None:
    conn = running_server()
    assert conn.receive(b'{"type":"close_stdin"}\n') == wp.CloseStdin()
    assert conn.stdin_closed
    with pytest.raises(wp.ProtocolViolation, match="after close_stdin"):
        conn.receive(b'{"type":"stdin"}\nabc')


def test_server_ignores_repeated_or_pointless_close_stdin() -> None:
    conn = running_server()
    assert conn.receive(b'{"type":"close_stdin"}') == wp.CloseStdin()
    assert conn.receive(b'{"type":"close_stdin"}') is None
    no_stdin = running_server(PIPE_NO_STDIN)
    assert no_stdin.receive(b'{"type":"close_stdin"}') is None
    assert not no_stdin.stdin_closed


def test_client_stdin_rules() -> None:
    conn = running_client(PIPE_NO_STDIN)
    with pytest.raises(wp.LocalProtocolError, match="not enabled"):
        conn.send(wp.Stdin(b"x"))
    conn.send(wp.CloseStdin())  # harmless: the server ignores it
    conn = running_client(PIPE_STDIN)
    conn.send(wp.Stdin(b"x"))
    conn.send(wp.CloseStdin())
    for message in (wp.Stdin(b"x"), wp.CloseStdin()):
        with pytest.raises(wp.LocalProtocolError, match="after close_stdin"):
            conn.send(message)


# --- resize ---------------------------------------------------------------------------------


def test_resize_is_for_ttys_only() -> None:
    assert running_server(TTY).receive(b'{"type":"resize","rows":5,"cols":6}') == wp.Resize(5, 6)
    assert running_server(PIPE_STDIN).receive(b'{"type":"resize","rows":5,"cols":6}') is None
    running_client(PIPE_STDIN).send(wp.Resize(5, 6))  # allowed; the server ignores it


# --- exit ---------------------------------------------------------------------------------


def exited_server(
    command: wp.Command = PIPE_STDIN, version: wp.ProtocolVersion = V1
) -> wp.Connection:
    conn = running_server(command, version)
    conn.send(wp.ExitCode(0))
    assert conn.state is S.EXITED
    return conn


@pytest.mark.parametrize(
    "message",
    [wp.Pid(1), wp.Stdout(b"x"), wp.Stderr(b"x"), wp.ExitCode(0), wp.Error("e", "m")],
    ids=["pid", "stdout", "stderr", "exit_code", "error"],
)
def test_server_sends_nothing_after_exit(message: wp.Message) -> None:
    with pytest.raises(wp.LocalProtocolError, match="after exit_code"):
        exited_server(version=V2).send(message)


@pytest.mark.parametrize(
    "wire",
    [
        b'{"type":"pid","pid":1}\n',
        b'{"type":"stdout"}\nlate',
        b'{"type":"stderr"}\nlate',
        b'{"type":"exit_code","exit_code":0,"error":""}\n',
    ],
)
def test_client_rejects_anything_after_exit(wire: bytes) -> None:
    conn = running_client()
    conn.receive(b'{"type":"exit_code","exit_code":0,"error":""}\n')
    with pytest.raises(wp.ProtocolViolation, match="after exit_code"):
        conn.receive(wire)


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (PIPE_STDIN, b'{"type":"stdin"}\nlate'),
        (PIPE_NO_STDIN, b'{"type":"stdin"}\nlate'),
        (PIPE_STDIN, b'{"type":"close_stdin"}\n'),
        (TTY, b'{"type":"resize","rows":1,"cols":1}'),
    ],
)
def test_server_ignores_client_input_after_exit(command: wp.Command, wire: bytes) -> None:
    assert exited_server(command).receive(wire) is None


def test_server_ignores_signal_after_exit_in_v2() -> None:
    assert exited_server(version=V2).receive(wp.encode(wp.Signal("SIGINT"))) is None


def test_client_input_after_exit_is_a_local_error() -> None:
    conn = running_client()
    conn.receive(b'{"type":"exit_code","exit_code":0,"error":""}\n')
    with pytest.raises(wp.LocalProtocolError, match="exited"):
        conn.send(wp.Stdin(b"x"))


# --- server message order ------------------------------------------------------------------


def test_server_output_needs_pid_first() -> None:
    conn = server()
    for message in (wp.Stdout(b"x"), wp.Stderr(b"x"), wp.ExitCode(0)):
        with pytest.raises(wp.LocalProtocolError, match="before pid"):
            conn.send(message)
    conn.send(wp.Pid(1))
    with pytest.raises(wp.LocalProtocolError, match="pid in state running"):
        conn.send(wp.Pid(1))
    with pytest.raises(wp.LocalProtocolError, match="pid in state awaiting_start"):
        server(None).send(wp.Pid(1))


def test_client_checks_server_order() -> None:
    with pytest.raises(wp.ProtocolViolation, match="pid in state awaiting_start"):
        client(None).receive(b'{"type":"pid","pid":1}\n')
    conn = client()
    with pytest.raises(wp.ProtocolViolation, match="before pid"):
        conn.receive(b'{"type":"stdout"}\nx')
    conn.receive(b'{"type":"pid","pid":1}\n')
    with pytest.raises(wp.ProtocolViolation, match="pid in state running"):
        conn.receive(b'{"type":"pid","pid":1}\n')


def test_wrong_direction() -> None:
    with pytest.raises(wp.ProtocolViolation, match="is a server message"):
        running_server().receive(b'{"type":"stdout"}\nx')
    with pytest.raises(wp.ProtocolViolation, match="is a client message"):
        running_client().receive(b'{"type":"stdin"}\nx')
    with pytest.raises(wp.LocalProtocolError, match="a server cannot send"):
        running_server().send(wp.Stdin(b"x"))
    with pytest.raises(wp.LocalProtocolError, match="a client cannot send"):
        running_client().send(wp.Stdout(b"x"))
    with pytest.raises(wp.LocalProtocolError, match="a client cannot send bogus"):
        running_client().send(wp.UnknownMessage("bogus"))


# --- unknown types and versions --------------------------------------------------------------


@pytest.mark.parametrize("version", [V1, V2])
def test_unknown_types_are_ignored_in_every_state(version: wp.ProtocolVersion) -> None:
    for conn in (
        server(None, version),
        running_server(version=version),
        exited_server(version=version),
    ):
        assert conn.receive(b'{"type":"bogus"}\nxyz') is None
    for conn in (client(None, version), running_client(version=version)):
        assert conn.receive(b'{"type":"bogus","x":1}\n') is None


def test_v2_messages_are_refused_locally_in_v1() -> None:
    with pytest.raises(wp.LocalProtocolError, match="needs protocol v2"):
        running_client().send(wp.Signal("SIGINT"))
    with pytest.raises(wp.LocalProtocolError, match="needs protocol v2"):
        server(None).send(wp.Error("start_failed", "no"))
    with pytest.raises(wp.LocalProtocolError, match="signal/core_dumped need protocol v2"):
        running_server().send(wp.ExitCode(-1, "signal: killed", signal="SIGKILL"))
    with pytest.raises(wp.LocalProtocolError, match="signal/core_dumped need protocol v2"):
        running_server().send(wp.ExitCode(0, core_dumped=False))


def test_v2_messages_are_allowed_in_v2() -> None:
    conn = running_client(version=V2)
    assert conn.extended
    assert conn.send(wp.Signal("SIGINT")) == b'{"type":"signal","signal":"SIGINT"}\n'
    s = server(None, V2)
    s.send(wp.Error("start_failed", "no such command", close_code=1011))
    assert s.state is S.AWAITING_START
    running = running_server(version=V2)
    running.send(wp.ExitCode(-1, "signal: killed", signal="SIGKILL", core_dumped=False))


def test_signal_from_a_v1_client_is_ignored() -> None:
    assert running_server().receive(b'{"type":"signal","signal":"SIGINT"}\n') is None


def test_signal_from_a_v2_client_is_delivered() -> None:
    message = running_server(version=V2).receive(b'{"type":"signal","signal":"SIGINT"}\n')
    assert message == wp.Signal("SIGINT")


def test_error_is_ignored_by_a_v1_client_and_delivered_in_v2() -> None:
    wire = b'{"type":"error","code":"x","message":"y"}\n'
    assert running_client().receive(wire) is None
    assert client(None, V2).receive(wire) == wp.Error("x", "y")
    after_exit = running_client(version=V2)
    after_exit.receive(b'{"type":"exit_code","exit_code":0,"error":""}\n')
    assert after_exit.receive(wire) == wp.Error("x", "y")


def test_invalid_signal_name_is_refused_locally() -> None:
    with pytest.raises(wp.LocalProtocolError, match="unknown signal"):
        running_client(version=V2).send(wp.Signal("SIGNOPE"))


def test_v1_exit_code_with_v2_fields_is_still_decoded_by_client() -> None:
    wire = b'{"type":"exit_code","exit_code":-1,"error":"signal: killed","signal":"SIGKILL"}\n'
    message = running_client().receive(wire)
    assert isinstance(message, wp.ExitCode)
    assert message.status.signal == 9


# --- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "limit"), [(V1, 64_000), (V2, wp.V2_MAX_MESSAGE_SIZE)])
def test_receive_limit(version: wp.ProtocolVersion, limit: int) -> None:
    conn = running_server(version=version)
    fits = wp.STDIN_HEADER + b"x" * (limit - len(wp.STDIN_HEADER))
    assert isinstance(conn.receive(fits), wp.Stdin)
    with pytest.raises(wp.MessageTooBig) as info:
        conn.receive(fits + b"x")
    assert info.value.close_code == wp.CloseCode.MESSAGE_TOO_BIG


def test_receive_limit_can_be_raised_for_input() -> None:
    conn = wp.Connection(wp.Role.SERVER, max_receive_size=100_000)
    conn.receive(wp.encode(wp.Start(PIPE_STDIN)))
    assert conn.max_message_size == 64_000
    assert isinstance(conn.receive(wp.STDIN_HEADER + b"x" * 90_000), wp.Stdin)


def test_send_limit_and_state_is_kept_on_refusal() -> None:
    conn = running_server()
    room = conn.max_data_size(wp.STDOUT_HEADER)
    assert room == 64_000 - len(wp.STDOUT_HEADER)
    assert len(conn.send(wp.Stdout(b"x" * room))) == 64_000
    with pytest.raises(wp.LocalProtocolError, match="exceeds the v1 limit of 64000"):
        conn.send(wp.Stdout(b"x" * (room + 1)))
    with pytest.raises(wp.LocalProtocolError, match="exceeds"):
        conn.send(wp.ExitCode(1, "e" * 70_000))
    assert conn.state is S.RUNNING  # the refused exit_code did not end the connection
    conn.send(wp.ExitCode(1, "exit status 1"))
    assert conn.state is S.EXITED


def test_refused_oversized_start_does_not_start() -> None:
    conn = client(None)
    with pytest.raises(wp.LocalProtocolError, match="exceeds"):
        conn.send(wp.Start(wp.Command("x", ("a" * 70_000,))))
    assert conn.state is S.AWAITING_START
    assert conn.command is None
    conn.send(wp.Start(PIPE_STDIN))


def test_check_send_for_self_framed_data() -> None:
    conn = running_server()
    conn.check_send(wp.Stdout(b""))
    with pytest.raises(wp.LocalProtocolError):
        server().check_send(wp.Stdout(b""))


def test_receive_message_for_already_decoded_messages() -> None:
    conn = server(None)
    assert conn.receive_message(wp.Start(TTY)) == wp.Start(TTY)
    assert conn.receive_message(wp.UnknownMessage("x")) is None


def test_extension_messages_type_check(tmp_path: Path) -> None:
    """Connection takes extension messages under mypy --strict, and still refuses non-messages."""
    out, errors, status = strict_mypy(
        tmp_path,
        "uses_extensions.py",
        "from wsep_protocol import Connection, ProtocolVersion, Role\n"
        "from wsep_protocol.flow import Flow\n"
        "from wsep_protocol.sessions import ListSessions, SessionList\n"
        "conn = Connection(Role.CLIENT, ProtocolVersion.V2)\n"
        "data: bytes = conn.send(ListSessions())\n"
        "conn.check_send(Flow(window=1))\n"
        "reply = conn.receive_message(SessionList(()))\n"
        "conn.send(42)\n",
    )
    assert len(errors) == 1, out
    assert "uses_extensions.py:8:" in errors[0]
    assert status == 1
