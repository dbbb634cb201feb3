"""The server's sessions by identity and id: create, reattach, list, inspect, end.

Sessions are scoped to identities: each identity (``None`` when anonymous) has
its own namespace of ids, so another identity's ``start`` with the same id
creates its own session, and its ``attach`` finds nothing (the answer is the
same as for an id that does not exist). ``grant`` lets another identity reach
a session too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from wsep_protocol import Command, Execer, PolicyViolation
from wsep_protocol.sessions import NoSuchSession

from .attachment import SessionProcess
from .config import SessionConfig
from .session import Session

if TYPE_CHECKING:
    from ..hooks import Identity

__all__ = ["SessionManager", "identity_name"]

Key = tuple[str | None, str]


def identity_name(identity: Identity | None) -> str | None:
    """The name sessions are scoped by, or None for anonymous.

    It is ``<auth>:<name>`` (``jwt:alice``, ``token:alice``) when the identity
    says how it was proven: a JWT whose ``sub`` is ``alice`` is not the static
    token ``alice`` and cannot reach its sessions. A policy that means them to
    be one person maps them together with a ``principal`` attribute (used as is).
    """
    if identity is None:
        return None
    attributes = identity.attributes
    principal = attributes.get("principal")
    if principal:
        return principal
    method = attributes.get("auth")
    return f"{method}:{identity.name}" if method else identity.name


class SessionManager:
    """All live sessions of one server."""

    def __init__(self, execer: Execer, config: SessionConfig | None = None) -> None:
        self.execer = execer
        self.config = config or SessionConfig()
        self._sessions: dict[Key, Session] = {}
        self._creating: dict[Key, asyncio.Future[Session | None]] = {}
        self._closing = False

    def __len__(self) -> int:
        return len(self._sessions)

    # --- lookup ------------------------------------------------------------------

    def find(self, identity: Identity | None, session_id: str) -> Session | None:
        """The session ``session_id`` that ``identity`` may reach (its own first)."""
        name = identity_name(identity)
        own = self._sessions.get((name, session_id))
        if own is not None:
            return own
        if name is None:
            return None
        for (_, sid), session in self._sessions.items():
            if sid == session_id and name in session.granted:
                return session
        return None

    def list(self, identity: Identity | None) -> list[Session]:
        """The sessions ``identity`` may reach, oldest first."""
        name = identity_name(identity)
        found = [
            s
            for (owner, _), s in self._sessions.items()
            if owner == name or (name is not None and name in s.granted)
        ]
        return sorted(found, key=lambda s: s.created)

    def get(self, identity: Identity | None, session_id: str) -> Session:
        session = self.find(identity, session_id)
        if session is None:
            raise NoSuchSession(f"no session {session_id!r}")
        return session

    def grant(self, session: Session, identity: Identity | None) -> None:
        """Let ``identity`` reach ``session`` as its owner does."""
        name = identity_name(identity)
        if name is not None:
            session.granted.add(name)

    # --- attaching ---------------------------------------------------------------

    async def open(
        self,
        session_id: str,
        command: Command | None,
        *,
        identity: Identity | None = None,
        peer: str = "",
        read_only: bool = False,
        resumable: bool = False,
        size: tuple[int, int] | None = None,
        offsets: Mapping[str, int | None] | None = None,
    ) -> SessionProcess:
        """Attach to session ``session_id``, starting ``command`` first if there is none.

        ``command`` None (or ``read_only``) never starts anything: a missing
        session raises :class:`NoSuchSession`. ``size`` is this client's
        terminal (None: not stated). ``offsets`` resume a job's streams.
        Raises ``StartError`` as the execer does.
        """
        if not session_id:
            raise ValueError("a session needs an id")
        created = False
        session = self.find(identity, session_id)
        if session is None or session.ended.is_set() or session._ending is not None:
            if command is None or read_only:
                raise NoSuchSession(f"no session {session_id!r}")
            session, created = await self._create(
                (identity_name(identity), session_id), command, resumable
            )
        if size is not None and not (size[0] and size[1]):
            size = None
        attachment = SessionProcess(
            session, created=created, read_only=read_only, peer=peer, size=size
        )
        if session.tty:
            await session.redraw_for(attachment)
        else:
            attachment._start_at(dict(offsets or {}))
        return attachment

    async def _create(self, key: Key, command: Command, resumable: bool) -> tuple[Session, bool]:
        while True:
            pending = self._creating.get(key)
            if pending is None:
                return await self._start(key, command, resumable)
            # Someone is starting it right now: join them. Cancelling this task
            # cancels only this wait (the shield), never their start.
            session = await asyncio.shield(pending)
            if session is not None:
                return session, False
            # Their start was cancelled: that cancellation was theirs, not ours.
            # Start it ourselves (or join whoever got there first).
            live = self._sessions.get(key)
            if live is not None and live._ending is None and not live.ended.is_set():
                return live, False

    async def _start(self, key: Key, command: Command, resumable: bool) -> tuple[Session, bool]:
        if self._closing:
            raise PolicyViolation("the server is shutting down")
        # Sessions being started count: the check and the reservation happen
        # before the first await, so concurrent creates cannot pass it together.
        if len(self._sessions) + len(self._creating) >= self.config.max_sessions:
            raise PolicyViolation(f"too many sessions (at most {self.config.max_sessions})")
        share = self.config.identity_share
        if self._held_by(key[0]) >= share:
            raise PolicyViolation(f"too many sessions for this identity (at most {share})")
        # The result for those who joined: the session, the start's error, or
        # None when this task was cancelled (they then start it themselves).
        future: asyncio.Future[Session | None] = asyncio.get_running_loop().create_future()
        self._creating[key] = future
        try:
            process = await self.execer.start(command)
            session = Session(
                session_id=key[1],
                owner=key[0],
                command=command,
                process=process,
                resumable=resumable,
                config=self.config,
                on_end=self._forget,
            )
            self._sessions[key] = session
            future.set_result(session)
            return session, True
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without joiners
            raise
        finally:
            if not future.done():  # cancelled (or interrupted): not an error of theirs
                future.set_result(None)
            del self._creating[key]

    def _held_by(self, owner: str | None) -> int:
        """Live and starting sessions of ``owner``."""
        return sum(1 for o, _ in self._sessions if o == owner) + sum(
            1 for o, _ in self._creating if o == owner
        )

    def _forget(self, session: Session) -> None:
        key = (session.owner, session.id)
        if self._sessions.get(key) is session:
            del self._sessions[key]

    # --- ending -----------------------------------------------------------------

    async def end(self, identity: Identity | None, session_id: str) -> Session:
        """End a session as a management request does; returns once it has ended."""
        session = self.get(identity, session_id)
        session.end("ended by request")
        await session.ended.wait()
        return session

    async def close(self) -> None:
        """End every session (server shutdown)."""
        self._closing = True
        sessions = list(self._sessions.values())
        for session in sessions:
            session.end("server shutdown")
        for session in sessions:
            await session.ended.wait()
