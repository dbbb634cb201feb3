"""What to run: the ``command`` object of a ``start`` message."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_COLS", "DEFAULT_ROWS", "Command"]

#: The terminal size of a TTY whose ``start`` gives 0 rows or columns (the Go server's).
DEFAULT_ROWS = 24
DEFAULT_COLS = 80


@dataclass(frozen=True, slots=True)
class Command:
    """A command to start, exactly the fields of the v1 ``start`` message.

    ``env`` entries are ``KEY=VALUE`` strings added to the server's own
    environment. ``uid``/``gid`` 0 mean "do not change". ``rows``/``cols`` 0
    mean the default terminal size (:data:`DEFAULT_ROWS` × :data:`DEFAULT_COLS`, 24 × 80).
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
    def terminal_size(self) -> tuple[int, int]:
        """(rows, cols) with 0 replaced by the default: the size the TTY starts with."""
        return self.rows or DEFAULT_ROWS, self.cols or DEFAULT_COLS

    @property
    def stdin_enabled(self) -> bool:
        """A TTY always takes input; pipes only when asked for."""
        return self.stdin or self.tty
