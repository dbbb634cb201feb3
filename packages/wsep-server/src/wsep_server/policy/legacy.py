"""Policies of the older form, ``check_start(request, identity, command, session_id)``.

They keep working through :class:`LegacyPolicy`, with a ``DeprecationWarning``
when the server is built with one. The adapter gives them what they had:
the aiohttp request with the deprecated ``REATTACH_KEY`` and
``SESSION_ENDED_KEY``, and ``record_id`` to the ones that declare it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import warnings
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from wsep_protocol import Command

from ..hooks import REATTACH_KEY, SESSION_ENDED_KEY, Identity, RunLimits, StartPolicy
from .decision import StartDecision, StartRequest

__all__ = ["LegacyPolicy", "LegacyStartPolicy", "as_start_policy"]


@runtime_checkable
class LegacyStartPolicy(Protocol):
    """The deprecated policy form: limits back, or raise ``PolicyViolation``."""

    async def check_start(
        self,
        request: web.Request,
        identity: Identity | None,
        command: Command,
        session_id: str,
    ) -> RunLimits: ...


class _EndedEvent:
    """The lease that sets a legacy policy's ``SESSION_ENDED_KEY`` event."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def release(self) -> None:
        self.event.set()


class LegacyPolicy:
    """A :class:`~wsep_server.hooks.StartPolicy` around a ``check_start`` policy."""

    def __init__(self, inner: LegacyStartPolicy) -> None:
        self.inner = inner
        self._record_id = _takes_record_id(inner)

    async def decide(self, request: StartRequest) -> StartDecision:
        http = request.http
        if http is None:
            raise TypeError("a check_start policy needs the aiohttp request")
        if request.reattach:
            http[REATTACH_KEY] = True
        check: Any = self.inner.check_start
        args = (http, request.identity, request.command, request.session_id)
        if self._record_id:
            limits: RunLimits = await check(*args, record_id=request.record_id)
        else:
            limits = await check(*args)
        ended = asyncio.Event()  # set once what was allowed has ended (the lease)
        http[SESSION_ENDED_KEY] = ended
        return StartDecision.allow(
            limits=dataclasses.replace(limits, record=False),  # the decision's record decides
            record=limits.record,
            lease=_EndedEvent(ended),
        )


def _takes_record_id(policy: LegacyStartPolicy) -> bool:
    try:
        params = inspect.signature(policy.check_start).parameters
    except (TypeError, ValueError):
        return False
    return "record_id" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def as_start_policy(policy: StartPolicy | LegacyStartPolicy) -> StartPolicy:
    """``policy`` itself, or an adapter (with a ``DeprecationWarning``) for the older form."""
    if isinstance(policy, StartPolicy):
        return policy
    if isinstance(policy, LegacyStartPolicy):
        warnings.warn(
            f"{type(policy).__name__}.check_start(request, identity, command, session_id) "
            "is deprecated: implement StartPolicy.decide(request) -> StartDecision",
            DeprecationWarning,
            stacklevel=3,
        )
        return LegacyPolicy(policy)
    raise TypeError(f"not a start policy: {policy!r}")
