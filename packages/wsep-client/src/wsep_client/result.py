"""What :meth:`RemoteExecer.run` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsep_protocol import ExitStatus

__all__ = ["CompletedProcess"]


@dataclass(frozen=True, slots=True)
class CompletedProcess:
    """A finished command, like ``subprocess.CompletedProcess``.

    ``returncode`` follows asyncio: the exit code, or ``-N`` when signal N
    ended the process. ``exit_signal`` is N or ``None``.
    ``stdout``/``stderr`` are ``bytes``, or ``str`` in text mode
    (``text=True``, ``encoding=`` or ``errors=`` given to ``run``).
    ``termination_reason`` says why the server ended the command (a policy
    limit such as its maximum duration; v2), None when it ended by itself.
    Only inside a :class:`ProcessTimeout` is ``timed_out`` true; the status
    is unknown then and ``returncode`` is ``-1``.
    """

    args: tuple[str, ...]
    returncode: int
    stdout: Any
    stderr: Any
    exit_signal: int | None = None
    core_dumped: bool = False
    pid: int = 0
    termination_reason: str | None = None
    timed_out: bool = False

    @classmethod
    def from_status(
        cls,
        args: tuple[str, ...],
        status: ExitStatus | None,
        stdout: Any,
        stderr: Any,
        pid: int = 0,
        termination_reason: str | None = None,
    ) -> CompletedProcess:
        if status is None:
            return cls(args, -1, stdout, stderr, pid=pid, timed_out=True)
        return cls(
            args,
            returncode_of(status),
            stdout,
            stderr,
            exit_signal=status.signal,
            core_dumped=status.core_dumped,
            pid=pid,
            termination_reason=termination_reason,
        )

    @property
    def success(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def shell_code(self) -> int:
        """What a shell would report: the code, or 128 + N for signal N."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.returncode


def returncode_of(status: ExitStatus) -> int:
    """asyncio's convention: the exit code, or minus the signal number."""
    return -status.signal if status.signal is not None else status.code
