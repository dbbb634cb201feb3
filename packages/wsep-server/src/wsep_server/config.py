"""Run-time settings of the wsep application (the CLI maps its flags onto these)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_RECEIVE_SIZE", "ServerConfig"]

#: Largest incoming message by default. v1 clients (the Go one included) may
#: send stdin messages larger than the 64,000 bytes they accept themselves.
DEFAULT_MAX_RECEIVE_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the handler behaves; every field has a safe default.

    - ``compress``: accept permessage-deflate. Off by default: it costs 10-60x
      throughput and the Go client offers it unasked.
    - ``max_receive_size``: largest message a client may send (aiohttp's
      ``max_msg_size``); larger ones get close 1009.
    - ``heartbeat``: seconds between pings, so dead peers are noticed (None: off).
    - ``grace_period``: on shutdown, how long connections get to end before the
      server stops waiting.
    - ``close_timeout``: how long to wait for the peer's close frame after ours.
    - ``exit_linger``: after ``exit_code`` the Go server waits for the client to
      close; we wait this long, then close 1000 ourselves.
    """

    compress: bool = False
    max_receive_size: int = DEFAULT_MAX_RECEIVE_SIZE
    heartbeat: float | None = 30.0
    grace_period: float = 5.0
    close_timeout: float = 5.0
    exit_linger: float = 30.0

    def __post_init__(self) -> None:
        if self.max_receive_size < 1024:
            raise ValueError("max_receive_size must be at least 1024 bytes")
        for name in ("grace_period", "close_timeout", "exit_linger"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.heartbeat is not None and self.heartbeat <= 0:
            raise ValueError("heartbeat must be positive (or None for off)")
