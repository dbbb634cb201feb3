"""Fixtures for the security tests: a fully configured server with a counting execer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from support.security import (
    JWT_SECRET,
    PASSWORD,
    RUNNING_AS_ROOT,
    TOKENS,
    CountingExecer,
    Layout,
    MakeSecure,
    SecureServer,
)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    work = tmp_path / "work"
    outside = tmp_path / "outside"
    evil = tmp_path / "evil"
    for d in (work, outside, evil):
        d.mkdir()
    (work / "sub").mkdir()
    (work / "escape").symlink_to(outside)
    sh = os.path.realpath("/bin/sh")
    (evil / "echo").symlink_to(sh)  # looks like an allowed command, is a shell
    (work / "echo").symlink_to(sh)
    policy = tmp_path / "policy.toml"
    grant_root = "uids = [0]\n" if RUNNING_AS_ROOT else ""
    policy.write_text(
        f"""
[default]
commands = ["/usr/bin/echo", "/usr/bin/cat", "/usr/bin/true", "/usr/bin/printf", "/usr/bin/env",
            "/usr/bin/sleep", "/usr/bin/yes", "/usr/bin/tty"]
working_dirs = ["{work}"]
{grant_root}
[identity.noroot]
uids = []

[identity.limited]
max_sessions = 1

[identity.notty]
tty = false

[identity.short]
max_duration = 0.5

[identity.small]
max_output_bytes = 100000

[identity.pathok]
env_allow = ["PATH"]

[identity.recorded]
record = true
commands = ["/usr/bin/*"]
""",
        encoding="utf-8",
    )
    return Layout(tmp_path, work, outside, evil, tmp_path / "casts", policy)


@pytest.fixture
def make_secure_server(make_server: Any, layout: Layout) -> MakeSecure:
    """Start an in-process server with every authenticator, the origin check and the policy."""
    from wsep_server.audit import AuditLog
    from wsep_server.auth import (
        BasicAuthenticator,
        JWTAuthenticator,
        StaticTokenAuthenticator,
        TokenLocation,
        TrustedProxyAuthenticator,
        auth_middleware,
        hash_password,
        origin_middleware,
    )
    from wsep_server.local import LocalExecer
    from wsep_server.policy import FilePolicy, default_resolver
    from wsep_server.recording import RecordingExecer

    async def factory(
        *,
        locations: tuple[TokenLocation, ...] = tuple(TokenLocation),
        audit: bool = False,
        allowed_origins: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> SecureServer:
        counting = CountingExecer(LocalExecer(grace_period=2.0, output_linger=0.5))
        execer = RecordingExecer(counting, layout.record_dir)
        auths = [
            TrustedProxyAuthenticator(["10.255.255.1"]),
            JWTAuthenticator(JWT_SECRET, algorithms=["HS256"], locations=locations),
            StaticTokenAuthenticator(plain=TOKENS.items(), locations=locations),
            BasicAuthenticator({"bob": hash_password(PASSWORD, rounds=4)}),
        ]
        policy = FilePolicy.from_file(layout.policy, resolver=default_resolver(execer))
        observers = []
        log = None
        if audit:
            log = AuditLog(layout.tmp / "audit.jsonl")
            observers.append(log)
        url = await make_server(
            execer=execer,
            policy=policy,
            observers=observers,
            middlewares=[
                origin_middleware(allowed_origins),
                auth_middleware(auths),
                policy.middleware(),
            ],
            **kwargs,
        )
        return SecureServer(url, counting, layout, log, policy)

    return factory
