"""Exit statuses and signals: Go's wording for v1 peers, names for v2, parsing both back."""

from __future__ import annotations

import os
import signal

import pytest
import wsep_protocol as wp
from wsep_protocol.status import signal_from_description


def spawn_and_wait(script: str) -> int:
    """The raw wait status of a real ``sh -c script``."""
    pid = os.posix_spawnp("sh", ["sh", "-c", script], dict(os.environ))
    _, status = os.waitpid(pid, 0)
    return status


def test_from_wait_status_exit_code() -> None:
    status = wp.ExitStatus.from_wait_status(spawn_and_wait("exit 3"))
    assert status == wp.ExitStatus(3)
    assert status.error == "exit status 3"
    assert not status.success
    assert status.shell_code == 3


def test_from_wait_status_signal() -> None:
    status = wp.ExitStatus.from_wait_status(spawn_and_wait("kill -9 $$"))
    assert status == wp.ExitStatus(-1, signal.SIGKILL)
    assert status.error == "signal: killed"
    assert status.shell_code == 137


def test_success() -> None:
    status = wp.ExitStatus.from_wait_status(spawn_and_wait("true"))
    assert status.success
    assert status.error == ""
    assert status.shell_code == 0


def test_from_returncode() -> None:
    assert wp.ExitStatus.from_returncode(0).success
    assert wp.ExitStatus.from_returncode(2) == wp.ExitStatus(2)
    assert wp.ExitStatus.from_returncode(-15) == wp.ExitStatus(-1, 15)
    dumped = wp.ExitStatus.from_returncode(-11, core_dumped=True)
    assert dumped.error == "signal: segmentation fault (core dumped)"


@pytest.mark.parametrize(
    ("signum", "words"),
    [(1, "hangup"), (2, "interrupt"), (9, "killed"), (15, "terminated"), (40, "signal 40")],
)
def test_signal_description_is_gos(signum: int, words: str) -> None:
    assert wp.signal_description(signum) == words
    assert signal_from_description(f"signal: {words}") == signum
    assert signal_from_description(f"signal: {words} (core dumped)") == signum


@pytest.mark.parametrize(
    "error",
    ["signal: ", "signal: bogus", "signal: signal ", "signal: signal ²", "signal: signal 1234"],
)
def test_signal_from_description_unknown(error: str) -> None:
    assert signal_from_description(error) == 0


def test_signal_names() -> None:
    assert wp.signal_name(15) == "SIGTERM"
    assert wp.signal_name(42) == "SIG42"
    assert wp.signal_name(0) == "SIG0"


@pytest.mark.parametrize(
    ("name", "number"),
    [("SIGTERM", 15), ("term", 15), (" sigint ", 2), ("9", 9), ("SIG42", 42), ("64", 64)],
)
def test_signal_number(name: str, number: int) -> None:
    assert wp.signal_number(name) == number


@pytest.mark.parametrize("name", ["", "0", "65", "SIG65", "NOPE", "١", "²", "SIG²", "1" * 5000])
def test_signal_number_rejects(name: str) -> None:
    with pytest.raises(ValueError, match="signal"):
        wp.signal_number(name)


def test_signal_message_helpers() -> None:
    assert wp.Signal.from_number(2) == wp.Signal("SIGINT")
    assert wp.Signal("hup").number == 1


# --- ExitCode <-> ExitStatus ---------------------------------------------------------


def test_exit_code_from_status_v1_and_v2() -> None:
    killed = wp.ExitStatus(-1, 9)
    assert wp.ExitCode.from_status(killed) == wp.ExitCode(-1, "signal: killed")
    assert wp.ExitCode.from_status(killed, extended=True) == wp.ExitCode(
        -1, "signal: killed", "SIGKILL", False
    )
    assert wp.ExitCode.from_status(wp.ExitStatus(3), extended=True) == wp.ExitCode(
        3, "exit status 3", None, False
    )


@pytest.mark.parametrize(
    "status",
    [wp.ExitStatus(0), wp.ExitStatus(3), wp.ExitStatus(-1, 9), wp.ExitStatus(-1, 11, True)],
)
def test_status_round_trips_through_both_versions(status: wp.ExitStatus) -> None:
    for extended in (False, True):
        message = wp.ExitCode.from_status(status, extended=extended)
        assert wp.decode(wp.encode(message)).status == status  # type: ignore[union-attr]


def test_status_prefers_v2_fields() -> None:
    message = wp.ExitCode(-1, "signal: killed", signal="SIGTERM", core_dumped=None)
    assert message.status == wp.ExitStatus(-1, 15, False)


def test_status_with_unknown_v2_signal_falls_back_to_the_words() -> None:
    assert wp.ExitCode(-1, "signal: killed", signal="SIGNOPE").status == wp.ExitStatus(-1, 9)
    assert wp.ExitCode(-1, "", signal="SIGNOPE").status == wp.ExitStatus(-1)


def test_status_with_unknown_words_is_not_a_made_up_signal() -> None:
    status = wp.ExitCode(-1, "signal: mystery").status
    assert status == wp.ExitStatus(-1)
    assert status.signal is None
    assert wp.ExitCode(-1, "signal: signal ²").status == wp.ExitStatus(-1)


def test_status_of_plain_exit_codes() -> None:
    assert wp.ExitCode(0).status.success
    assert wp.ExitCode(2, "exit status 2").status == wp.ExitStatus(2)
    # "signal: " words only count with the -1 Go uses for signals.
    assert wp.ExitCode(1, "signal: killed").status == wp.ExitStatus(1)
