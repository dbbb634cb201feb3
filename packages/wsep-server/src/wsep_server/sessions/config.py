"""The knobs of reattachable sessions."""

from __future__ import annotations

from dataclasses import dataclass, field

from .terminal import TerminalLimits

__all__ = ["SessionConfig"]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How long detached sessions live and how much memory each may hold.

    - ``timeout``: seconds a session lives with nobody attached (the Go
      server's default is 5 minutes).
    - ``terminal``: bounds of a TTY session's screen, scrollback and pending
      output (see :class:`TerminalLimits`).
    - ``ring_bytes``: output kept per stream of a resumable job.
    - ``client_buffer``, ``client_stall``: TTY output queued for one client.
      While a client's backlog is over ``client_buffer`` bytes the session's
      output is held back (so a client that keeps up gets every byte), for at
      most ``client_stall`` seconds; then that client's backlog is dropped and
      it gets a fresh redraw instead (a stuck client cannot stall the others).
    - ``max_sessions``: live sessions per server; more starts are refused.
    - ``max_sessions_per_identity``: live sessions one identity (anonymous
      included) may hold, so one cannot take them all; None: a quarter of
      ``max_sessions`` (at least 1).
    """

    timeout: float = 300.0
    terminal: TerminalLimits = field(default_factory=TerminalLimits)
    ring_bytes: int = 4 << 20
    client_buffer: int = 1 << 20
    client_stall: float = 2.0
    max_sessions: int = 256
    max_sessions_per_identity: int | None = None

    @property
    def identity_share(self) -> int:
        """How many live sessions one identity may hold."""
        if self.max_sessions_per_identity is not None:
            return self.max_sessions_per_identity
        return max(1, self.max_sessions // 4)
