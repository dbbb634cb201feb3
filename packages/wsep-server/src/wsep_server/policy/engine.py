"""The start policy the server calls: per-identity rules, session counting, limits.

Every check runs before anything is spawned. Concurrent sessions are counted
per identity name from the moment a start is allowed until the WebSocket
request ends; the release happens in :meth:`FilePolicy.middleware`, which must
be installed (:func:`wsep_server.security.build_security` does it).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from wsep_protocol import Command, PolicyViolation, ResolvingExecer

from ..hooks import IDENTITY_KEY, REATTACH_KEY, SESSION_ENDED_KEY, Identity, SessionLimits
from ..local.environ import EnvironmentPlan, request_environment
from ..recording import request_recording
from .checks import (
    check_arguments,
    check_command,
    check_env,
    check_ids,
    check_tty,
    check_working_dir,
    resolve_command,
)
from .principals import with_principal
from .rules import PolicyFile, Rules, load_policy_file

if TYPE_CHECKING:
    from wsep_protocol import Execer

__all__ = ["FilePolicy", "default_resolver"]

_log = logging.getLogger("wsep_server.policy")

# Typed request keys where aiohttp has them (3.12+), plain strings before.
_RequestKey: Any = getattr(web, "RequestKey", None)
_TRACKED: Any = _RequestKey("wsep_policy_tracked", bool) if _RequestKey else "wsep.policy.tracked"
#: Holds (identity name,) while a session of that identity is counted.
_SLOT: Any = _RequestKey("wsep_policy_slot", tuple) if _RequestKey else "wsep.policy.slot"


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
        self._active: dict[str | None, int] = {}
        #: Waits for the end of reattachable sessions that hold a slot.
        self._held: set[asyncio.Task[Any]] = set()

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

    async def check_start(
        self,
        request: web.Request,
        identity: Identity | None,
        command: Command,
        session_id: str,
        *,
        record_id: str = "",
    ) -> SessionLimits:
        """Raise ``PolicyViolation`` unless ``command`` may run for ``identity``."""
        if self.policy.principals and not request.get(_TRACKED):
            raise PolicyViolation("server misconfigured: [principals] needs the policy middleware")
        rules = self.rules_for(identity)
        check_tty(rules, command)
        check_ids(rules, command, euid=os.geteuid(), egid=os.getegid())
        check_working_dir(rules, command)
        check_env(rules, command)
        path, real = resolve_command(command, self.resolver)
        check_command(rules, path, real)
        check_arguments(rules, command, path, real)
        name = None if identity is None else identity.name
        if rules.max_sessions is not None:
            if not request.get(_TRACKED):
                raise PolicyViolation(
                    "server misconfigured: session limits need the policy middleware"
                )
            if request.get(_SLOT) is None and not request.get(REATTACH_KEY):
                if self._active.get(name, 0) >= rules.max_sessions:
                    raise PolicyViolation(
                        f"not allowed: more than {rules.max_sessions} concurrent session(s)"
                    )
                self._active[name] = self._active.get(name, 0) + 1
                request[_SLOT] = (name,)
        request_environment(EnvironmentPlan(rules.environment, rules.env_passthrough))
        record = rules.record_pipes if not command.tty else rules.record
        if record:
            request_recording(identity=name, argv=command.argv, path=path)
        return SessionLimits(
            max_duration=rules.max_duration,
            max_output_bytes=rules.max_output_bytes,
            record=record,
        )

    def _release(self, request: web.Request) -> None:
        if _SLOT not in request:
            return
        (name,) = request.pop(_SLOT)
        ended: asyncio.Event | None = request.get(SESSION_ENDED_KEY)
        if ended is not None and not ended.is_set():
            # A reattachable session outlives its connection: it keeps the slot.
            task = asyncio.ensure_future(ended.wait())
            self._held.add(task)
            task.add_done_callback(self._held.discard)
            task.add_done_callback(lambda _: self._release_slot(name))
            return
        self._release_slot(name)

    def _release_slot(self, name: str | None) -> None:
        left = self._active.get(name, 0) - 1
        if left > 0:
            self._active[name] = left
        else:
            self._active.pop(name, None)

    def middleware(self) -> Middleware:
        """Maps the identity to its ``[principals]`` entry (the policy as it is now) and
        counts a session until its request ends; install it after the auth middleware."""

        @web.middleware
        async def track_sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
            request[_TRACKED] = True
            if IDENTITY_KEY in request:
                request[IDENTITY_KEY] = with_principal(
                    request[IDENTITY_KEY], self.policy.principals
                )
            try:
                return await handler(request)
            finally:
                self._release(request)

        return track_sessions
