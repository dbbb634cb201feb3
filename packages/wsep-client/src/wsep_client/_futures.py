"""Small helpers for futures the client does not await itself."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["consume_exception"]


def consume_exception(future: asyncio.Future[Any]) -> None:
    """A done callback: mark the exception retrieved, so asyncio logs no warning.

    For futures whose failure is reported elsewhere (or does not matter).
    """
    if not future.cancelled():
        future.exception()
