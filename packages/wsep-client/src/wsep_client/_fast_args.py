"""``wsep run`` options read without argparse, for the control master's thin client.

argparse and gettext cost a few milliseconds per call: a noticeable part of
a call through a warm master. This reader takes only the plain forms
(``--opt VALUE``, ``--opt=VALUE``, single flags, ``--`` before the command)
and gives up (None) on anything else, which then goes through argparse as
usual, with its messages. It imports nothing.
"""

from __future__ import annotations

__all__ = ["RunArgs", "parse_run"]

_FLAGS = {
    "--v1": "v1",
    "--insecure": "insecure",
    "-t": "tty",
    "--tty": "tty",
    "-n": "no_stdin",
    "--no-stdin": "no_stdin",
}
_VALUES = {
    "--url": "url",
    "--token": "token",
    "--cacert": "cacert",
    "--control": "control",
    "--id": "id",
    "-e": "env",
    "--env": "env",
    "--cwd": "cwd",
    "--timeout": "timeout",
}


class RunArgs:
    """The attributes argparse would give ``wsep run`` (the same names)."""

    def __init__(self) -> None:
        self.action = "run"
        self.url: str | None = None
        self.token: str | None = None
        self.cacert: str | None = None
        self.insecure = False
        self.v1 = False
        self.control: str | None = None
        self.tty = False
        self.no_stdin = False
        self.id = ""
        self.env: list[str] = []
        self.cwd: str | None = None
        self.timeout: float | None = None
        self.argv: list[str] = []


def parse_run(tokens: list[str]) -> RunArgs | None:
    """The options of ``wsep run TOKENS``, or None when argparse should read them."""
    args = RunArgs()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            args.argv = tokens[i + 1 :]
            break
        if not token.startswith("-") or token == "-":
            args.argv = tokens[i:]
            break
        name, eq, inline = token.partition("=")
        if name in _FLAGS and not eq:
            setattr(args, _FLAGS[name], True)
            i += 1
            continue
        if name not in _VALUES or (name == "-e" and eq):
            return None  # unknown, abbreviated, combined or --help: argparse decides
        if eq:
            value = inline
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            value = tokens[i + 1]
            i += 2
        else:
            return None
        field = _VALUES[name]
        if field == "env":
            if "=" not in value or value.startswith("="):
                return None
            args.env.append(value)
        elif field == "timeout":
            try:
                args.timeout = float(value)
            except ValueError:
                return None
        elif field == "control" and value not in ("auto", "yes", "no"):
            return None
        else:
            setattr(args, field, value)
    if not args.argv:
        return None
    return args
