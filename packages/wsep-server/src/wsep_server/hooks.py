"""Extension points of the server: identity, start policy, run-time limits, observers.

The authentication middleware, the start policy and the audit log are written
against these names; the handler calls them. Nothing here does I/O.

- An auth middleware stores the caller's :class:`Identity` in
  ``request[IDENTITY_KEY]`` (absent or ``None`` means anonymous).
- A :class:`StartPolicy` decides, before anything is spawned, whether a
  ``start`` may run and how (:class:`RunLimits`, recording, user,
  environment): one typed request in, one typed decision out (see
  :mod:`wsep_server.policy.decision`); a refusal closes with 1008.
- :class:`ConnectionObserver` objects see every connection's start and end as a
  :class:`ConnectionRecord` (the per-connection log line is one of them).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import warnings
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from aiohttp import web as _web
from wsep_protocol import ExitStatus

if TYPE_CHECKING:
    from aiohttp import web

    from .policy.decision import StartDecision, StartRequest

__all__ = [
    "IDENTITY_KEY",
    "REATTACH_KEY",
    "SESSION_ENDED_KEY",
    "AllowAll",
    "ConnectionObserver",
    "ConnectionRecord",
    "Identity",
    "RunLimits",
    "StartPolicy",
    "notify_observers",
]


_log = logging.getLogger("wsep_server.hooks")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as the auth middleware established it."""

    name: str
    # Not hashed (a dict is not hashable); equality still compares it.
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)


def _identity_key() -> web.RequestKey[Identity | None]:
    """A ``web.RequestKey`` where aiohttp has one (3.14+ warns on string keys)."""
    if hasattr(_web, "RequestKey"):
        return _web.RequestKey[Identity | None]("wsep.identity")
    return "wsep.identity"  # type: ignore[return-value]  # aiohttp < 3.14


#: ``request[IDENTITY_KEY]`` holds the authenticated :class:`Identity` (or None).
IDENTITY_KEY: Final = _identity_key()

_RequestKey: Any = getattr(_web, "RequestKey", None)
#: Deprecated (``StartRequest.reattach`` says it): set for policies of the older
#: ``check_start`` form only, true when the start attaches to a session the identity has.
REATTACH_KEY: Final[Any] = _RequestKey("wsep_reattach", bool) if _RequestKey else "wsep.reattach"
#: Deprecated (a ``StartDecision.lease`` is released when the session ends): set for
#: policies of the older ``check_start`` form only; the event is set when what the
#: start allowed has ended (the connection, or the reattachable session it created).
SESSION_ENDED_KEY: Final[Any] = (
    _RequestKey("wsep_session_ended", asyncio.Event) if _RequestKey else "wsep.session_ended"
)


@dataclass(frozen=True, slots=True)
class RunLimits:
    """What a run may do (one connection's, or a reattachable session's); ``None`` means unlimited.

    The handler ends the process when ``max_duration`` seconds have passed or
    more than ``max_output_bytes`` of stdout+stderr were produced, and says so
    in the connection record's ``end_reason`` (and, in v2, an ``error`` message).
    ``record`` is deprecated: ``StartDecision.record`` decides recording (a
    policy of the older ``check_start`` form that returns ``record=True`` gets
    its sessions recorded through it).
    """

    max_duration: float | None = None
    max_output_bytes: int | None = None
    record: bool = False

    def __post_init__(self) -> None:
        if self.record:
            warnings.warn(
                "RunLimits(record=True) is deprecated: return "
                "StartDecision.allow(record=True) from StartPolicy.decide",
                DeprecationWarning,
                stacklevel=3,
            )


@runtime_checkable
class StartPolicy(Protocol):
    """Decides whether a ``start`` may run, and how; called once, before anything is spawned.

    It gets one :class:`~wsep_server.policy.decision.StartRequest` and returns
    one :class:`~wsep_server.policy.decision.StartDecision` (allowed, with
    limits, recording, run-as user and environment; or refused with a reason
    and an error code). Raising :class:`wsep_protocol.PolicyViolation` refuses
    too. Policies written against the older ``check_start(request, identity,
    command, session_id)`` form keep working, with a ``DeprecationWarning``.
    """

    async def decide(self, request: StartRequest) -> StartDecision: ...


class AllowAll:
    """The default policy: everything may run, without limits."""

    async def decide(self, request: StartRequest) -> StartDecision:
        from .policy.decision import StartDecision  # the policy package imports this module

        return StartDecision.allow()


@dataclass(slots=True)
class ConnectionRecord:
    """One connection's run as observers see it; filled in as it goes.

    ``id`` is unique per connection (a server-made id, not the client's ``start``
    id, which is ``client_id``). ``started``/``ended`` are ``time.time()`` values.
    ``end_reason`` says why the run ended: ``exited``, ``client closed``,
    ``client disconnected``, ``start failed: ...``, ``protocol error: ...``,
    ``policy: ...``, ``limit: ...``, ``server shutdown``, ``internal error: ...``.
    """

    id: str
    identity: Identity | None
    peer: str
    argv: Sequence[str] = ()
    cwd: str = ""
    tty: bool = False
    pid: int | None = None
    started: float = 0.0
    ended: float | None = None
    exit_status: ExitStatus | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    end_reason: str = ""
    client_id: str = ""
    protocol_version: int = 1
    close_code: int | None = None
    limits: RunLimits = field(default_factory=RunLimits)
    #: The policy decided to record this run.
    recorded: bool = False
    #: The start attached to a session this identity already had.
    reattach: bool = False

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@runtime_checkable
class ConnectionObserver(Protocol):
    """Sees each connection's run start and end; the methods may be plain or ``async``.

    ``on_start`` is called once the process runs (``pid`` set); ``on_end`` once
    per connection that got a ``start``, including refused and failed starts.
    An observer that raises is logged and otherwise ignored.
    """

    def on_start(self, record: ConnectionRecord) -> Awaitable[None] | None: ...

    def on_end(self, record: ConnectionRecord) -> Awaitable[None] | None: ...


async def notify_observers(
    observers: Sequence[ConnectionObserver], event: str, record: ConnectionRecord
) -> None:
    """Call ``event`` (``on_start``/``on_end``) on every observer; never raises."""
    for observer in observers:
        try:
            result = getattr(observer, event)(record)
            if inspect.isawaitable(result):
                await result
        except Exception:
            _log.exception("observer %r failed in %s", observer, event)


#: Old names, kept as deprecated aliases (each meant one connection's run).
_RENAMED = {
    "SessionRecord": "ConnectionRecord",
    "SessionObserver": "ConnectionObserver",
    "SessionLimits": "RunLimits",
    "SessionLogObserver": "ConnectionLogObserver",
}


def _renamed(module: str, name: str, names: dict[str, Any]) -> Any:
    """``module``'s deprecated ``name``: the new name's object (found in ``names``)."""
    new = _RENAMED.get(name)
    if new is None or new not in names:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"{module}.{name} is deprecated: use {new} (a session is a reattachable one)",
        DeprecationWarning,
        stacklevel=3,
    )
    return names[new]


def __getattr__(name: str) -> Any:
    return _renamed(__name__, name, globals())
