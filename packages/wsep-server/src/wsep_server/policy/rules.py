"""The policy file: per-identity rules in TOML, parsed and validated up front.

::

    [default]                      # anyone authenticated without a section of their own
    commands = ["/usr/bin/*"]      # absolute paths or patterns (* within a directory, ** across)
    working_dirs = ["/home", "/tmp"]
    max_sessions = 4

    [anonymous]                    # requests without an identity (--insecure-no-auth)
    commands = ["/usr/bin/uname"]

    [identity.alice]               # overrides [default] key by key
    uids = [1000, "bob"]           # users alice may run as, besides the server's own
    env_allow = ["EDITOR", "GIT_AUTHOR_*"]  # client variables, besides DEFAULT_ENV_ALLOW
    environment = "clean"          # or "inherit": the server's environment, scrubbed
    env_passthrough = ["LANG", "LC_*"]  # what "clean" takes from the server's environment
    tty = true
    max_duration = 3600            # seconds
    max_output_bytes = 1_000_000_000
    record = true                  # TTY sessions as asciicast v2
    record_pipes = true            # and sessions without a TTY (stdout and stderr)

    [identity.alice.arguments."/usr/bin/git"]   # see wsep_server.policy.arguments
    deny = ["-c", "-c*", "--config-env*"]

    [principals]                   # see wsep_server.policy.principals
    alice = ["token:alice", "jwt:alice"]

A key missing everywhere takes the built-in default: any command, any
directory, the server's own user only (root only when ``uids`` grants 0),
client environment variables in :data:`DEFAULT_ENV_ALLOW` only (never the
dangerous ones in :data:`DEFAULT_ENV_DENY` unless ``env_allow`` names them
exactly), the server's environment inherited (scrubbed of its own settings),
any arguments, TTYs allowed, no limits, no recording. An identity with no
section is refused unless there is a ``[default]`` section.
"""

from __future__ import annotations

import os
import pwd
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from ..local.environ import DEFAULT_PASSTHROUGH
from .arguments import ArgumentRule, parse_arguments
from .principals import parse_principals

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "DEFAULT_ENV_ALLOW",
    "DEFAULT_ENV_DENY",
    "PolicyFile",
    "Rules",
    "compile_pattern",
    "dir_real",
    "load_policy_file",
    "parse_policy",
]

#: Client variables every policy allows: terminal, locale and time zone, nothing that
#: makes a program load or run something (``env_allow`` adds more, ``env_deny`` removes).
DEFAULT_ENV_ALLOW: tuple[str, ...] = (
    "TERM",
    "COLORTERM",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "COLUMNS",
    "LINES",
    "TZ",
)

#: Variables that change what a program loads or runs before it reads its arguments.
#: Denied unless ``env_allow`` names them exactly (a pattern like ``*`` does not count).
DEFAULT_ENV_DENY: tuple[str, ...] = (
    "LD_*",
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "BASH_FUNC_*",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "GLIBC_TUNABLES",
    "GCONV_PATH",
    "MALLOC_*",
    "NLSPATH",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "PYTHON*",
    "PERL5*",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A path pattern: ``**`` matches across ``/``, ``*`` and ``?`` within one component."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def dir_real(path: str) -> str:
    """``path`` with its directory's symlinks resolved, the last component kept as is."""
    head, tail = os.path.split(path)
    return os.path.join(os.path.realpath(head), tail)


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?")


@dataclass(frozen=True)
class Rules:
    """What one identity may do; see the module docstring for the file form."""

    commands: tuple[str, ...] = ("/**",)
    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()
    env_allow: tuple[str, ...] = ()
    env_deny: tuple[str, ...] = ()
    environment: str = "inherit"
    env_passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH
    arguments: tuple[ArgumentRule, ...] = ()
    working_dirs: tuple[str, ...] = ("/",)
    tty: bool = True
    max_sessions: int | None = None
    max_duration: float | None = None
    max_output_bytes: int | None = None
    record: bool = False
    record_pipes: bool = False
    #: Where the section came from, for error messages ("identity.alice", "default").
    source: str = field(default="built-in", compare=False)

    @cached_property
    def exact_commands(self) -> frozenset[str]:
        """Exact entries, their directory's symlinks resolved (``/bin/ls``: ``/usr/bin/ls``)."""
        return frozenset(dir_real(c) for c in self.commands if not _is_pattern(c))

    @cached_property
    def exact_realpaths(self) -> frozenset[str]:
        """The files the exact entries are (every symlink followed)."""
        return frozenset(os.path.realpath(c) for c in self.commands if not _is_pattern(c))

    @cached_property
    def command_patterns(self) -> tuple[re.Pattern[str], ...]:
        """Compiled pattern entries, also with their fixed directory prefix resolved."""
        out: list[re.Pattern[str]] = []
        for entry in self.commands:
            if not _is_pattern(entry):
                continue
            out.append(compile_pattern(entry))
            fixed = entry[: min(entry.find(c) for c in "*?" if c in entry)]
            prefix = fixed[: fixed.rfind("/") + 1]
            real = os.path.realpath(prefix).rstrip("/") + "/"
            if real != prefix:
                out.append(compile_pattern(real + entry[len(prefix) :]))
        return tuple(out)

    @cached_property
    def env_allow_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_env_pattern(p) for p in (*DEFAULT_ENV_ALLOW, *self.env_allow))

    @cached_property
    def own_env_deny_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_env_pattern(p) for p in self.env_deny)

    @cached_property
    def builtin_env_deny_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_env_pattern(p) for p in DEFAULT_ENV_DENY)

    @cached_property
    def env_allow_exact(self) -> frozenset[str]:
        return frozenset(p for p in self.env_allow if not _is_pattern(p))

    @cached_property
    def working_roots(self) -> tuple[str, ...]:
        return tuple(os.path.realpath(d) for d in self.working_dirs)


def _env_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z"
    )


@dataclass(frozen=True)
class PolicyFile:
    """All sections of a policy file."""

    identities: Mapping[str, Rules]
    default: Rules | None
    anonymous: Rules | None
    #: ``[principals]``: proof (``jwt:alice``) to the principal it belongs to.
    principals: Mapping[str, str] = field(default_factory=dict)

    @property
    def records(self) -> bool:
        """Whether any section records sessions (the server then needs a record directory)."""
        sections = (self.default, self.anonymous, *self.identities.values())
        return any(s is not None and (s.record or s.record_pipes) for s in sections)

    def rules_for(self, name: str | None) -> Rules | None:
        """The rules for ``name`` (None: anonymous), or None when it has none."""
        if name is None:
            return self.anonymous if self.anonymous is not None else self.default
        found = self.identities.get(name)
        return found if found is not None else self.default


_KEYS = {f.name for f in fields(Rules)} - {"source"}


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"policy [{where}]: {message}")


def _str_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"{key} must be a list of strings")
    return tuple(value)


def _ids(where: str, key: str, value: Any) -> frozenset[int]:
    if not isinstance(value, list):
        raise _fail(where, f"{key} must be a list of numbers or names")
    out: set[int] = set()
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise _fail(where, f"{key} entries must be numbers or names")
        if isinstance(v, int):
            if not 0 <= v < 2**32 - 1:
                raise _fail(where, f"{key}: {v} is out of range")
            out.add(v)
            continue
        try:
            if key == "uids":
                out.add(pwd.getpwnam(v).pw_uid)
            else:
                import grp

                out.add(grp.getgrnam(v).gr_gid)
        except KeyError:
            what = "user" if key == "uids" else "group"
            raise _fail(where, f"{key}: no such {what} {v!r}") from None
    return frozenset(out)


def _number(where: str, key: str, value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, f"{key} must be a number")
    if kind is int and not isinstance(value, int):
        raise _fail(where, f"{key} must be a whole number")
    if value <= 0:
        raise _fail(where, f"{key} must be positive")
    return kind(value)


def _section(where: str, table: Any, base: Rules) -> Rules:
    if not isinstance(table, dict):
        raise _fail(where, "must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise _fail(where, f"unknown key(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("commands", "working_dirs"):
            entries = _str_list(where, key, value)
            for entry in entries:
                if not entry.startswith("/"):
                    raise _fail(where, f"{key} entry {entry!r} must be an absolute path")
            values[key] = entries
        elif key in ("env_allow", "env_deny", "env_passthrough"):
            values[key] = _str_list(where, key, value)
        elif key == "environment":
            if value not in ("inherit", "clean"):
                raise _fail(where, 'environment must be "inherit" or "clean"')
            values[key] = value
        elif key == "arguments":  # added to the base section's: a restriction never lapses
            values[key] = (*base.arguments, *parse_arguments(where, value))
        elif key in ("uids", "gids"):
            values[key] = _ids(where, key, value)
        elif key in ("tty", "record", "record_pipes"):
            if not isinstance(value, bool):
                raise _fail(where, f"{key} must be true or false")
            values[key] = value
        elif key in ("max_sessions", "max_output_bytes"):
            values[key] = _number(where, key, value, int)
        else:  # max_duration
            values[key] = _number(where, key, value, float)
    merged = {f.name: getattr(base, f.name) for f in fields(Rules)}
    merged.update(values)
    merged["source"] = where
    return Rules(**merged)


def parse_policy(data: Mapping[str, Any]) -> PolicyFile:
    """Validate a parsed TOML document; raises ``ValueError`` naming the bad section/key."""
    unknown = set(data) - {"default", "anonymous", "identity", "principals"}
    if unknown:
        raise ValueError(f"policy: unknown section(s): {', '.join(sorted(unknown))}")
    builtin = Rules()
    default = _section("default", data["default"], builtin) if "default" in data else None
    base = default or builtin
    anonymous = _section("anonymous", data["anonymous"], base) if "anonymous" in data else None
    identities: dict[str, Rules] = {}
    table = data.get("identity", {})
    if not isinstance(table, dict):
        raise ValueError("policy: [identity] must hold one table per identity")
    for name, section in table.items():
        identities[name] = _section(f"identity.{name}", section, base)
    principals = parse_principals(data.get("principals", {}))
    return PolicyFile(
        identities=identities, default=default, anonymous=anonymous, principals=principals
    )


def load_policy_file(path: str | os.PathLike[str]) -> PolicyFile:
    """Read and validate a TOML policy file."""
    with Path(path).open("rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"policy {path}: {exc}") from None
    return parse_policy(data)
