"""What :meth:`RemoteExecer.run` returns."""

from __future__ import annotations

from dataclasses import dataclass

from wsep_protocol import ExitStatus

__all__ = ["CompletedProcess"]


@dataclass(frozen=True, slots=True)
class CompletedProcess:
    """A finished command, like ``subprocess.CompletedProcess``.

    ``returncode`` follows asyncio: the exit code, or ``-N`` when signal N
    ended the process (``None`` only for a timed-out run whose status is
    unknown). ``exit_signal`` is N or ``None``.
    """

    args: tuple[str, ...]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    exit_signal: int | None = None
    core_dumped: bool = False
    pid: int = 0

    @classmethod
    def from_status(
        cls,
        args: tuple[str, ...],
        status: ExitStatus | None,
        stdout: bytes,
        stderr: bytes,
        pid: int = 0,
    ) -> CompletedProcess:
        if status is None:
            return cls(args, None, stdout, stderr, pid=pid)
        return cls(
            args,
            returncode_of(status),
            stdout,
            stderr,
            exit_signal=status.signal,
            core_dumped=status.core_dumped,
            pid=pid,
        )

    @property
    def success(self) -> bool:
        return self.returncode == 0

    @property
    def shell_code(self) -> int | None:
        """What a shell would report: the code, or 128 + N for signal N."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.returncode


def returncode_of(status: ExitStatus) -> int:
    """asyncio's convention: the exit code, or minus the signal number."""
    return -status.signal if status.signal is not None else status.code
