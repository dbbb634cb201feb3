"""The start policy the server calls: per-identity rules, session counting, limits.

Every check runs before anything is spawned. Concurrent sessions are counted
per identity name from the moment a start is allowed until what it started has
ended: the decision's lease is released by the server when the connection
ends, or when the reattachable session it created ends.
:meth:`FilePolicy.middleware` maps identities to ``[principals]`` and must be
installed when the policy has them (:func:`wsep_server.security.build_security`
does it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from wsep_protocol import Command, PolicyViolation, ResolvingExecer

from ..hooks import IDENTITY_KEY, Identity, RunLimits
from ..local.environ import EnvironmentPlan
from .checks import (
    check_arguments,
    check_command,
    check_env,
    check_ids,
    check_tty,
    check_working_dir,
    effective_ids,
    resolve_command,
)
from .decision import RunAs, StartDecision, StartRequest
from .principals import with_principal
from .rules import PolicyFile, Rules, load_policy_file

if TYPE_CHECKING:
    from wsep_protocol import Execer

__all__ = ["FilePolicy", "default_resolver"]

_log = logging.getLogger("wsep_server.policy")

# Typed request keys where aiohttp has them (3.12+), plain strings before.
_RequestKey: Any = getattr(web, "RequestKey", None)
_TRACKED: Any = _RequestKey("wsep_policy_tracked", bool) if _RequestKey else "wsep.policy.tracked"


def default_resolver(execer: Execer | None = None) -> Callable[[Command], str]:
    """The execer's own ``resolve`` when it has one, else the local execer's lookup."""
    if isinstance(execer, ResolvingExecer):
        return execer.resolve
    from ..local import spawn

    return spawn.resolve


class FilePolicy:
    """A :class:`~wsep_server.hooks.StartPolicy` from a TOML policy file."""

    def __init__(
        self,
        policy: PolicyFile,
        *,
        resolver: Callable[[Command], str] | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver if resolver is not None else default_resolver()
        #: Allowed sessions per identity name whose lease is not released yet.
        self._active: dict[str | None, int] = {}

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, resolver: Callable[[Command], str] | None = None
    ) -> FilePolicy:
        return cls(load_policy_file(path), resolver=resolver)

    def rules_for(self, identity: Identity | None) -> Rules:
        name = None if identity is None else identity.name
        rules = self.policy.rules_for(name)
        if rules is None:
            who = "anonymous requests" if name is None else f"identity {name!r}"
            raise PolicyViolation(f"not allowed: {who} (no policy)")
        return rules

    async def decide(self, request: StartRequest) -> StartDecision:
        """Refused with the first rule the start breaks, else allowed as the rules say."""
        http = request.http
        if self.policy.principals and (http is None or not http.get(_TRACKED)):
            raise PolicyViolation("server misconfigured: [principals] needs the policy middleware")
        command = request.command
        rules = self.rules_for(request.identity)
        check_tty(rules, command)
        euid, egid = os.geteuid(), os.getegid()
        check_ids(rules, command, euid=euid, egid=egid)
        check_working_dir(rules, command)
        check_env(rules, command)
        path, real = resolve_command(command, self.resolver)
        check_command(rules, path, real)
        check_arguments(rules, command, path, real)
        lease: _Slot | None = None
        if rules.max_sessions is not None and not request.reattach:
            name = request.identity_name
            if self._active.get(name, 0) >= rules.max_sessions:
                raise PolicyViolation(
                    f"not allowed: more than {rules.max_sessions} concurrent session(s)"
                )
            self._active[name] = self._active.get(name, 0) + 1
            lease = _Slot(self, name)
        return StartDecision.allow(
            limits=RunLimits(
                max_duration=rules.max_duration, max_output_bytes=rules.max_output_bytes
            ),
            record=rules.record_pipes if not command.tty else rules.record,
            run_as=RunAs(*effective_ids(command, euid, egid)),
            environment=EnvironmentPlan(rules.environment, rules.env_passthrough),
            executable=path,
            lease=lease,
        )

    def _release_slot(self, name: str | None) -> None:
        left = self._active.get(name, 0) - 1
        if left > 0:
            self._active[name] = left
        else:
            self._active.pop(name, None)

    def middleware(self) -> Middleware:
        """Maps the identity to its ``[principals]`` entry (the policy as it is now);
        install it after the auth middleware."""

        @web.middleware
        async def map_principals(request: web.Request, handler: Handler) -> web.StreamResponse:
            request[_TRACKED] = True
            if IDENTITY_KEY in request:
                request[IDENTITY_KEY] = with_principal(
                    request[IDENTITY_KEY], self.policy.principals
                )
            return await handler(request)

        return map_principals


class _Slot:
    """One counted session of an identity; released once."""

    def __init__(self, policy: FilePolicy, name: str | None) -> None:
        self._policy: FilePolicy | None = policy
        self.name = name

    def release(self) -> None:
        policy, self._policy = self._policy, None
        if policy is not None:
            policy._release_slot(self.name)
