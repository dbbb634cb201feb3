"""What to run: the ``command`` object of a ``start`` message."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Command"]


@dataclass(frozen=True, slots=True)
class Command:
    """A command to start, exactly the fields of the v1 ``start`` message.

    ``env`` entries are ``KEY=VALUE`` strings added to the server's own
    environment. ``uid``/``gid`` 0 mean "do not change". ``rows``/``cols`` 0
    mean the default terminal size (24 × 80).
    """

    command: str
    args: tuple[str, ...] = ()
    stdin: bool = False
    tty: bool = False
    rows: int = 0
    cols: int = 0
    uid: int = 0
    gid: int = 0
    env: tuple[str, ...] = ()
    working_dir: str = ""

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.command, *self.args)

    @property
    def stdin_enabled(self) -> bool:
        """A TTY always takes input; pipes only when asked for."""
        return self.stdin or self.tty
