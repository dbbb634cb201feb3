"""Exit status of a process, and the Go original's wording of it."""

from __future__ import annotations

import os
import signal as _signal
from dataclasses import dataclass

__all__ = [
    "ExitStatus",
    "signal_description",
    "signal_from_description",
    "signal_name",
    "signal_number",
]

# Go's syscall signal table on Linux: v1 peers see these words in ``error``.
_GO_SIGNAL_WORDS = {
    1: "hangup",
    2: "interrupt",
    3: "quit",
    4: "illegal instruction",
    5: "trace/breakpoint trap",
    6: "aborted",
    7: "bus error",
    8: "floating point exception",
    9: "killed",
    10: "user defined signal 1",
    11: "segmentation fault",
    12: "user defined signal 2",
    13: "broken pipe",
    14: "alarm clock",
    15: "terminated",
    16: "stack fault",
    17: "child exited",
    18: "continued",
    19: "stopped (signal)",
    20: "stopped",
    21: "stopped (tty input)",
    22: "stopped (tty output)",
    23: "urgent I/O condition",
    24: "CPU time limit exceeded",
    25: "file size limit exceeded",
    26: "virtual timer expired",
    27: "profiling timer expired",
    28: "window changed",
    29: "I/O possible",
    30: "power failure",
    31: "bad system call",
}


def signal_description(signum: int) -> str:
    """The words Go prints for a signal (``killed`` for 9)."""
    return _GO_SIGNAL_WORDS.get(signum, f"signal {signum}")


def signal_from_description(error: str) -> int:
    """The number behind Go's ``signal: killed`` wording (0 when unknown)."""
    words = error.removeprefix("signal: ").removesuffix(" (core dumped)")
    for number, text in _GO_SIGNAL_WORDS.items():
        if text == words:
            return number
    digits = words[7:]
    if words.startswith("signal ") and _is_small_number(digits):
        return int(digits)
    return 0


def _is_small_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` accepts ``²`` and ``١``), at most 3 of them."""
    return 0 < len(text) <= 3 and text.isascii() and text.isdigit()


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; ``SIG42`` for a number this platform has no name for."""
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


def signal_number(name: str) -> int:
    """Parse ``SIGTERM``, ``TERM`` or ``15``; raises ValueError for anything else."""
    text = name.strip().upper()
    if _is_small_number(text):
        number = int(text)
        if 1 <= number <= 64:
            return number
        raise ValueError(f"signal number out of range: {name!r}")
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(_signal.Signals[text])
    except KeyError:
        if _is_small_number(text[3:]):
            return signal_number(text[3:])
        raise ValueError(f"unknown signal: {name!r}") from None


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: an exit code, or the signal that killed it."""

    code: int
    signal: int | None = None
    core_dumped: bool = False

    @classmethod
    def from_returncode(cls, returncode: int, *, core_dumped: bool = False) -> ExitStatus:
        """From a ``subprocess`` style return code (negative means a signal)."""
        if returncode < 0:
            return cls(code=-1, signal=-returncode, core_dumped=core_dumped)
        return cls(code=returncode)

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        """From a raw ``os.waitpid`` status."""
        if os.WIFSIGNALED(status):
            return cls(code=-1, signal=os.WTERMSIG(status), core_dumped=os.WCOREDUMP(status))
        return cls(code=os.waitstatus_to_exitcode(status))

    @property
    def success(self) -> bool:
        return self.signal is None and self.code == 0

    @property
    def error(self) -> str:
        """Go's ``ProcessState.String()``, or ``""`` on success, as v1 sends it."""
        if self.signal is not None:
            text = "signal: " + signal_description(self.signal)
            return text + " (core dumped)" if self.core_dumped else text
        if self.code == 0:
            return ""
        return f"exit status {self.code}"

    @property
    def shell_code(self) -> int:
        """What a shell would report: the code, or 128 + signal."""
        return 128 + self.signal if self.signal is not None else self.code
