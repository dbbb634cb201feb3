"""The contract between the connection handler and a start policy: one request, one decision.

The handler builds a :class:`StartRequest` for every ``start`` (or ``attach``)
and asks the policy once; the :class:`StartDecision` it gets back travels with
the start call to the execer (:class:`DecidedExecer`) and, for reattachable
sessions, to the session service. Nothing is passed beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from wsep_protocol import Command, ErrorCode, Execer, PolicyViolation, Process

from ..hooks import Identity, RunLimits, StartPolicy
from ..local.environ import EnvironmentPlan
from .checks import effective_ids

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "POLICY_VIOLATION",
    "DecidedExecer",
    "EnvironmentPlan",
    "Lease",
    "RunAs",
    "StartDecision",
    "StartRequest",
    "decide",
    "start_decided",
]

#: The v2 ``error`` code of a refusal unless the policy names another.
POLICY_VIOLATION = ErrorCode.POLICY_VIOLATION


@dataclass(frozen=True, slots=True)
class StartRequest:
    """What a policy decides on: who wants to run what, from where, new or reattached.

    ``session_id`` is the client's ``start``/``attach`` id (may be empty or
    repeat); ``record_id`` is the server's unique id of this connection's
    :class:`~wsep_server.hooks.ConnectionRecord` (what observers see).
    ``reattach`` is true when the start attaches to a session this identity
    already has (a per-identity count must not count it twice). ``http`` is
    the aiohttp request, for policies that look at headers; ``None`` outside a
    server.
    """

    identity: Identity | None
    command: Command
    session_id: str = ""
    record_id: str = ""
    reattach: bool = False
    peer: str = ""
    http: web.Request | None = field(default=None, compare=False, repr=False)

    @property
    def tty(self) -> bool:
        return self.command.tty

    @property
    def identity_name(self) -> str | None:
        return None if self.identity is None else self.identity.name


@dataclass(frozen=True, slots=True)
class RunAs:
    """The user and group the child runs as (effective ids, already checked)."""

    uid: int
    gid: int


@runtime_checkable
class Lease(Protocol):
    """Something an allowed start holds (a session slot) until what it allowed has ended.

    The server calls ``release`` once: when the connection ends, or, when the
    start created a reattachable session that outlives its connection, when
    that session ends.
    """

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StartDecision:
    """A policy's answer: refused (``reason``, v2 error ``code``) or allowed, and how.

    ``limits`` bind the session while it runs; ``record`` asks for a recording
    (the one place that decides it); ``run_as`` overrides the user the command
    asked for (``None``: as the command says); ``environment`` is the child's
    base environment (``None``: the server's, scrubbed); ``executable`` is the
    path the policy checked (``""``: it did not resolve one); ``lease`` is
    released when the session ends (see :class:`Lease`).
    """

    allowed: bool
    reason: str = ""
    code: ErrorCode | str = POLICY_VIOLATION
    limits: RunLimits = field(default_factory=RunLimits)
    record: bool = False
    run_as: RunAs | None = None
    environment: EnvironmentPlan | None = None
    executable: str = ""
    lease: Lease | None = field(default=None, compare=False, repr=False)

    @classmethod
    def allow(
        cls,
        *,
        limits: RunLimits | None = None,
        record: bool = False,
        run_as: RunAs | None = None,
        environment: EnvironmentPlan | None = None,
        executable: str = "",
        lease: Lease | None = None,
    ) -> StartDecision:
        return cls(
            allowed=True,
            limits=limits if limits is not None else RunLimits(),
            record=record,
            run_as=run_as,
            environment=environment,
            executable=executable,
            lease=lease,
        )

    @classmethod
    def refuse(cls, reason: str, *, code: ErrorCode | str = POLICY_VIOLATION) -> StartDecision:
        return cls(allowed=False, reason=reason, code=code)


@runtime_checkable
class DecidedExecer(Protocol):
    """An execer that carries out a :class:`StartDecision` (environment, user, recording).

    The handler calls ``start_decided`` instead of ``Execer.start`` when an
    execer has it; an execer without it gets ``start(command)`` and cannot
    apply what the decision says beyond allowing the start.
    """

    async def start_decided(self, request: StartRequest, decision: StartDecision) -> Process: ...


async def decide(policy: StartPolicy, request: StartRequest) -> StartDecision:
    """Ask ``policy`` once; a raised ``PolicyViolation`` is a refusal like any other."""
    try:
        return await policy.decide(request)
    except PolicyViolation as exc:
        return StartDecision.refuse(str(exc), code=exc.error_code)


async def start_decided(execer: Execer, request: StartRequest, decision: StartDecision) -> Process:
    """Start ``request.command`` as ``decision`` says, through ``execer``.

    An execer without ``start_decided`` gets the command alone; a decision it
    cannot carry out that way (a clean environment, another user than the
    command names) is refused rather than quietly weakened.
    """
    if isinstance(execer, DecidedExecer):
        return await execer.start_decided(request, decision)
    command = request.command
    if decision.environment is not None and decision.environment.mode != "inherit":
        raise PolicyViolation(
            "server misconfigured: the execer cannot apply the policy's environment"
        )
    run_as = decision.run_as
    if run_as is not None and (run_as.uid, run_as.gid) != effective_ids(
        command, os.geteuid(), os.getegid()
    ):
        raise PolicyViolation("server misconfigured: the execer cannot apply the policy's user")
    return await execer.start(command)
