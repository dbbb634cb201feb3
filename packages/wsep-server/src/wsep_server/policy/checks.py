"""The individual start checks; each raises ``PolicyViolation`` with a reason a user can act on.

They look at what will actually happen, not at what the request says: the
command as the execer resolves it, with symlinks followed; the working
directory with ``..`` and symlinks resolved; the user the child will run as.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterable

from wsep_protocol import Command, PolicyViolation, StartError

from .arguments import check_arguments as _check_arguments
from .rules import Rules, compile_pattern, dir_real

__all__ = [
    "check_arguments",
    "check_command",
    "check_env",
    "check_ids",
    "check_tty",
    "check_working_dir",
    "effective_ids",
    "path_within",
    "resolve_command",
]


def _deny(message: str) -> PolicyViolation:
    return PolicyViolation(f"not allowed: {message}")


def check_tty(rules: Rules, command: Command) -> None:
    if command.tty and not rules.tty:
        raise _deny("TTY sessions")


def effective_ids(command: Command, euid: int, egid: int) -> tuple[int, int]:
    """The uid and gid the child will run as (0 on the wire means "unchanged")."""
    uid = command.uid or euid
    if command.gid:
        gid = command.gid
    elif command.uid:
        try:
            gid = pwd.getpwuid(command.uid).pw_gid
        except KeyError:
            gid = egid
    else:
        gid = egid
    return uid, gid


def check_ids(rules: Rules, command: Command, *, euid: int, egid: int) -> None:
    """Another user or group, or root, only when granted (``uids``/``gids``)."""
    uid, gid = effective_ids(command, euid, egid)
    if uid not in rules.uids and (uid != euid or uid == 0):
        who = "root (uid 0)" if uid == 0 else f"uid {uid}"
        raise _deny(f"running as {who}")
    if uid == 0:
        return  # granted root may use any group
    if gid not in rules.gids and (gid != egid or gid == 0):
        raise _deny(f"running with gid {gid}")


def path_within(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or below one (all absolute and resolved)."""
    for root in roots:
        if root == "/" or path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


def check_working_dir(rules: Rules, command: Command) -> str:
    """The resolved working directory, which must lie under an allowed root."""
    given = command.working_dir or os.getcwd()
    real = os.path.realpath(given)
    if not path_within(real, rules.working_roots):
        # Where a symlink leads is not the client's business: only the given path is shown.
        raise _deny(f"working directory {given}")
    return real


def check_env(rules: Rules, command: Command) -> None:
    """Each ``KEY=VALUE`` key must be allowed and not denied (exact allow beats built-in deny)."""
    for entry in command.env:
        key, sep, _ = entry.partition("=")
        if not sep or not key:
            raise _deny(f"malformed environment entry {entry[:40]!r}")
        if not any(p.match(key) for p in rules.env_allow_patterns):
            raise _deny(f"environment variable {key}")
        if any(p.match(key) for p in rules.own_env_deny_patterns):
            raise _deny(f"environment variable {key}")
        if key not in rules.env_allow_exact and any(
            p.match(key) for p in rules.builtin_env_deny_patterns
        ):
            raise _deny(f"environment variable {key}")


def resolve_command(command: Command, resolver: Callable[[Command], str]) -> tuple[str, str]:
    """(path as the execer will run it, the file it really is); unresolvable is refused."""
    try:
        path = resolver(command)
    except StartError as exc:
        raise PolicyViolation(f"cannot check command: {exc}") from None
    return path, os.path.realpath(path)


def check_command(rules: Rules, path: str, real: str) -> None:
    """The path must match an entry, and so must the file it really is.

    Exact entries match the path itself or any path that resolves to the same
    file; patterns must match both the path and the resolved file. So a
    symlink placed outside the allowed places never counts, and one inside
    them only when its target is allowed too.
    """
    dpath = dir_real(path)
    lexical = dpath in rules.exact_commands or any(
        p.match(path) or p.match(dpath) for p in rules.command_patterns
    )
    resolved = real in rules.exact_realpaths or any(p.match(real) for p in rules.command_patterns)
    if not (lexical and resolved):
        # Never the symlink's target: what the identity cannot see stays unseen.
        raise _deny(f"command {path}")


def check_arguments(rules: Rules, command: Command, path: str, real: str) -> None:
    """Argument rules of every entry that names the command (as given or as resolved)."""

    def matches(entry: str) -> bool:
        if any(c in entry for c in "*?"):
            pattern = compile_pattern(entry)
            return bool(pattern.match(path) or pattern.match(real) or pattern.match(dir_real(path)))
        return dir_real(entry) == dir_real(path) or os.path.realpath(entry) == real

    _check_arguments(rules.arguments, matches, command.args)
