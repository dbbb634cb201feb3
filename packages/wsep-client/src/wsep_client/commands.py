"""Commands from subprocess-like arguments, and the URLs a client may open."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Union

from wsep_protocol import Command

from .errors import InvalidURL

__all__ = ["CommandArg", "build_command", "check_url", "command_argv", "text_encoding"]

#: What ``aiohttp`` can open a WebSocket to.
_SCHEMES = ("ws", "wss", "http", "https")


def check_url(url: object) -> str:
    """``url`` if it can name a wsep server; :class:`InvalidURL` (a ``ValueError``) if not."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES or not rest.strip("/"):
        raise InvalidURL(
            f"{url!r} is not a wsep server URL: it needs a scheme and a host, "
            "e.g. ws://host:8080/ or wss://host/",
            url=url,
        )
    return url


#: A command: a program and its arguments, or (like ``subprocess``) a list of both.
CommandArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


def command_argv(cmd: CommandArg, args: Sequence[Any]) -> tuple[str, tuple[str, ...]]:
    """``(program, args)`` from ``run("ls", "-l")`` or ``run(["ls", "-l"])``.

    Anything else raises ``TypeError`` at once (not later, in a task).
    """
    items: list[Any] = [cmd, *args]
    if isinstance(cmd, (list, tuple)):
        if args:
            raise TypeError("give the command either as a list or as separate arguments")
        items = list(cmd)
        if not items:
            raise ValueError("empty command")
    argv = []
    for position, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            value = os.fspath(item)
            if isinstance(value, str):
                argv.append(value)
                continue
        what = "the command" if position == 0 else f"argument {position}"
        raise TypeError(f"{what} must be a str (or os.PathLike), not {type(item).__name__}")
    if not argv[0]:
        raise ValueError("empty command")
    return argv[0], tuple(argv[1:])


def text_encoding(text: bool, encoding: str | None, errors: str | None) -> str | None:
    """The encoding of text mode, as ``subprocess`` decides it (None: bytes)."""
    if encoding is not None or errors is not None or text:
        return encoding or "utf-8"
    return None


def build_command(
    cmd: CommandArg,
    *args: str,
    stdin: bool = True,
    tty: bool = False,
    env: Mapping[str, str] | Sequence[str] | None = None,
    cwd: str | None = None,
    rows: int = 0,
    cols: int = 0,
    uid: int = 0,
    gid: int = 0,
) -> Command:
    """A :class:`~wsep_protocol.Command` from subprocess-like arguments."""
    cmd, args = command_argv(cmd, args)
    if env is None:
        env_list: tuple[str, ...] = ()
    elif isinstance(env, Mapping):
        env_list = tuple(f"{k}={v}" for k, v in env.items())
    else:
        env_list = tuple(env)
    return Command(
        command=cmd,
        args=args,
        stdin=stdin,
        tty=tty,
        rows=rows,
        cols=cols,
        uid=uid,
        gid=gid,
        env=env_list,
        working_dir=cwd or "",
    )
