"""The environment a child gets: deliberate, never the server's secrets.

The server's own configuration and credentials live in its environment
(``WSEP_TOKEN``, ``WSEP_JWT_KEY`` …). Whatever else is inherited, every
``WSEP_*`` variable and every name the operator lists with ``--scrub-env``
(glob patterns allowed) is removed before a child starts, whichever user it
runs as.

A policy may ask for a *clean* environment instead of the inherited one, the
way sshd builds a login's: ``HOME``, ``USER``, ``LOGNAME``, ``SHELL`` and
``PATH`` from the run-as user's passwd entry, ``TERM`` for terminals, and the
server's locale variables (``LANG``, ``LC_*``, ``TZ`` or what the policy names).
The client's own ``KEY=VALUE`` entries are added on top in both cases.
"""

from __future__ import annotations

import fnmatch
import os
import pwd
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ALWAYS_SCRUBBED",
    "DEFAULT_PASSTHROUGH",
    "EnvironmentPlan",
    "child_base",
    "clean_environment",
    "scrub",
]

#: Never passed on from the server's environment: its own configuration and credentials.
ALWAYS_SCRUBBED: tuple[str, ...] = ("WSEP_*",)
#: What a clean environment takes from the server's by default.
DEFAULT_PASSTHROUGH: tuple[str, ...] = ("LANG", "LANGUAGE", "LC_*", "TZ")

_ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_USER_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True, slots=True)
class EnvironmentPlan:
    """What the policy chose for one start (part of its decision): ``inherit`` (scrubbed)
    or ``clean``."""

    mode: str = "inherit"
    passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def scrub(environ: Mapping[str, str], patterns: Sequence[str] = ()) -> dict[str, str]:
    """``environ`` without ``WSEP_*`` and without any name matching ``patterns``."""
    drop = (*ALWAYS_SCRUBBED, *patterns)
    return {k: v for k, v in environ.items() if not _matches(k, drop)}


def clean_environment(
    uid: int,
    *,
    tty: bool,
    server_env: Mapping[str, str],
    passthrough: Sequence[str] = DEFAULT_PASSTHROUGH,
) -> dict[str, str]:
    """An sshd-like login environment for ``uid`` (what passwd says, locale passed on)."""
    env = {k: v for k, v in server_env.items() if _matches(k, passthrough)}
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        home, name, shell = "/", str(uid), "/bin/sh"
    else:
        home, name, shell = entry.pw_dir or "/", entry.pw_name, entry.pw_shell or "/bin/sh"
    env.update(
        HOME=home,
        USER=name,
        LOGNAME=name,
        SHELL=shell,
        PATH=_ROOT_PATH if uid == 0 else _USER_PATH,
    )
    if tty:
        env["TERM"] = server_env.get("TERM") or "xterm"
    return env


def child_base(
    plan: EnvironmentPlan | None,
    *,
    uid: int,
    tty: bool,
    scrubbed: Sequence[str] = (),
    server_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment before the client's entries: scrubbed in every mode."""
    source = scrub(os.environ if server_env is None else server_env, scrubbed)
    if plan is None or plan.mode == "inherit":
        return source
    return clean_environment(uid, tty=tty, server_env=source, passthrough=plan.passthrough)
