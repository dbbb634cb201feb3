"""Argument rules: what a permitted program may be told to do.

Many ordinary programs run other programs when asked to by an argument
(``tar --checkpoint-action=exec=…``, ``git -c alias.x='!…'``, ``find -exec``,
``less`` with ``!``; the GTFOBins list): allowing a program is allowing
everything its arguments can make it do. A policy narrows that per command::

    [default.arguments."/usr/bin/git"]
    deny = ["-c", "-c*", "--config-env*", "--exec-path*", "--upload-pack*"]

    [default.arguments."/usr/bin/tar"]
    deny = ["--checkpoint-action*", "--to-command*", "--use-compress-program*",
            "-I*", "--rsh-command*", "--info-script*", "--new-volume-script*", "-F*"]
    deny_line = ['re:(.*\\s)?-[a-zA-Z]*[IF].*']   # short options bundled together

The key is the command (an absolute path or a path pattern, as in
``commands``). ``allow``/``deny`` match each argument; ``allow_line``/``deny_line``
the arguments joined by single spaces. Entries are glob patterns (``*``, ``?``,
``[…]``), or regular expressions after ``re:`` (matched in full). With an
``allow`` list every argument must match one of its entries.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wsep_protocol import PolicyViolation

__all__ = ["ArgumentRule", "check_arguments", "parse_arguments"]


def _compile(entry: str) -> re.Pattern[str]:
    if entry.startswith("re:"):
        return re.compile(entry[3:], re.DOTALL)
    return re.compile(fnmatch.translate(entry), re.DOTALL)


@dataclass(frozen=True)
class ArgumentRule:
    """The argument patterns for the commands ``command`` names."""

    command: str
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow_line: tuple[str, ...] = ()
    deny_line: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for entry in (*self.allow, *self.deny, *self.allow_line, *self.deny_line):
            _compile(entry)  # a bad regular expression fails when the policy loads

    def refusal(self, args: Sequence[str]) -> str | None:
        """Why ``args`` are not allowed (the offending argument), or ``None``."""
        deny = [_compile(e) for e in self.deny]
        allow = [_compile(e) for e in self.allow]
        for arg in args:
            if any(p.fullmatch(arg) for p in deny):
                return f"argument {arg[:40]!r}"
            if allow and not any(p.fullmatch(arg) for p in allow):
                return f"argument {arg[:40]!r}"
        line = " ".join(args)
        if any(p.fullmatch(line) for p in (_compile(e) for e in self.deny_line)):
            return "these arguments"
        allow_line = [_compile(e) for e in self.allow_line]
        if allow_line and not any(p.fullmatch(line) for p in allow_line):
            return "these arguments"
        return None


_KEYS = ("allow", "deny", "allow_line", "deny_line")


def parse_arguments(where: str, value: Any) -> tuple[ArgumentRule, ...]:
    """The ``arguments`` table of a section; raises ``ValueError`` naming what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError(f"policy [{where}]: arguments must be a table of commands")
    rules: list[ArgumentRule] = []
    for command, table in value.items():
        if not command.startswith("/"):
            raise ValueError(f"policy [{where}]: arguments key {command!r} must be absolute")
        if not isinstance(table, Mapping) or set(table) - set(_KEYS):
            raise ValueError(
                f"policy [{where}]: arguments.{command!r} takes only {', '.join(_KEYS)}"
            )
        lists: dict[str, tuple[str, ...]] = {}
        for key, entries in table.items():
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ValueError(f"policy [{where}]: arguments {key} must be a list of strings")
            lists[key] = tuple(entries)
        try:
            rules.append(ArgumentRule(command, **lists))
        except re.error as exc:
            raise ValueError(f"policy [{where}]: arguments for {command}: {exc}") from None
    return tuple(rules)


def check_arguments(
    rules: Sequence[ArgumentRule],
    matches: Any,
    args: Sequence[str],
) -> None:
    """Raise ``PolicyViolation`` when a rule whose command ``matches`` refuses ``args``."""
    for rule in rules:
        if not matches(rule.command):
            continue
        why = rule.refusal(args)
        if why is not None:
            raise PolicyViolation(f"not allowed: {why} for {rule.command}")
