"""Where a flag's value comes from: the command line, a ``WSEP_*`` variable, the config file.

Derived from the argparse parser itself, so every flag (also one added later)
gets all three sources without further code: the variable is the one the
flag's help names in brackets (``[WSEP_PORT]``), else ``WSEP_`` + its dest;
the config file key is the flag's long name without dashes (``tls-cert`` or
``tls_cert``). Values from the environment and the file go through the flag's
own ``type`` and ``choices``, so a bad value gets the flag's error, naming
where it came from. Precedence: flags > environment > config file > default.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "Setting",
    "SettingError",
    "apply_layers",
    "build_parser_despite_environment",
    "find_config_path",
    "finish_namespace",
    "load_config_file",
    "settings",
]

ENV_PREFIX = "WSEP_"
_ENV_IN_HELP = re.compile(r"\[(WSEP_[A-Z0-9_]+)\]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
#: Flags that choose the sources or act at once: never taken from them.
_NOT_LAYERED = {"help", "version", "config", "check_config"}


def env_default(name: str, default: str | None = None) -> str | None:
    """``WSEP_<name>`` from the environment: the default a flag shows in ``--help``."""
    return os.environ.get(ENV_PREFIX + name, default)


def env_flag(name: str, default: bool = False) -> bool:
    """``WSEP_<name>`` read as a switch: 1/true/yes/on (any case) are true."""
    text = os.environ.get(ENV_PREFIX + name)
    if text is None:
        return default
    return text.strip().lower() in _TRUE


class SettingError(ValueError):
    """A value from the environment or the config file is not usable (one line)."""


@dataclass(frozen=True)
class Setting:
    """One flag and the names it has in the environment and the config file."""

    action: argparse.Action
    env: str
    key: str

    @property
    def is_switch(self) -> bool:
        return self.action.nargs == 0

    @property
    def is_list(self) -> bool:
        return isinstance(self.action, argparse._AppendAction)


def settings(parser: argparse.ArgumentParser) -> Iterator[Setting]:
    """Every layered flag of ``parser``."""
    for action in parser._actions:
        if not action.option_strings or action.dest in _NOT_LAYERED:
            continue
        if action.dest == argparse.SUPPRESS:
            continue
        found = _ENV_IN_HELP.search(action.help or "")
        env = found.group(1) if found else ENV_PREFIX + action.dest.upper()
        longs = [o for o in action.option_strings if o.startswith("--")]
        key = (longs[0] if longs else action.option_strings[0]).lstrip("-")
        yield Setting(action, env, key)


def _convert_one(setting: Setting, text: str, where: str) -> Any:
    action = setting.action
    try:
        value = action.type(text) if callable(action.type) else text
    except argparse.ArgumentTypeError as exc:
        raise SettingError(f"{where}: {exc}") from None
    except (TypeError, ValueError):
        name = getattr(action.type, "__name__", "")
        raise SettingError(f"{where}: invalid {name} value") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(repr(c) for c in action.choices)
        raise SettingError(f"{where}: invalid choice (choose from {choices})")
    return value


def _switch(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingError(f"{where}: not a boolean (use 1/0, true/false, yes/no, on/off)")


def _from_env(setting: Setting, text: str) -> Any:
    where = f"{setting.env}={text!r}"
    if setting.is_switch:
        on = _switch(text, where)
        const = setting.action.const
        if isinstance(setting.action, argparse._StoreConstAction) and not isinstance(const, bool):
            return const if on else setting.action.default
        return on
    if setting.is_list:
        items = [p.strip() for p in text.split(",") if p.strip()]
        return [_convert_one(setting, item, where) for item in items]
    return _convert_one(setting, text, where)


def _from_file(setting: Setting, value: object, where: str) -> Any:
    if setting.is_switch:
        return _switch(value, where)
    if setting.is_list:
        items = value if isinstance(value, list) else [value]
        return [_convert_one(setting, _text(v, where), where) for v in items]
    return _convert_one(setting, _text(value, where), where)


def _text(value: object, where: str) -> str:
    if isinstance(value, bool):
        raise SettingError(f"{where}: expected a value, not a boolean")
    if isinstance(value, (str, int, float)):
        return str(value)
    raise SettingError(f"{where}: expected a string or a number")


def build_parser_despite_environment(
    build: Callable[[], argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """``build()``; if a flag's default converts a ``WSEP_*`` value itself and that
    fails, build again without those variables: :func:`apply_layers` then names
    the bad one, where the eager conversion would have ended in a traceback."""
    try:
        return build()
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        for name in saved:
            del os.environ[name]
        try:
            return build()
        finally:
            os.environ.update(saved)


def find_config_path(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """``--config FILE`` from the command line, else ``WSEP_CONFIG``."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(list(argv))
    path = known.config or environ.get(ENV_PREFIX + "CONFIG") or None
    return str(path) if path else None


def load_config_file(path: str) -> dict[str, Any]:
    """The TOML table of ``path`` (a ``[wsep-server]`` table, or the top level)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SettingError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"config file {path}: not valid TOML: {exc}") from None
    table = data.get("wsep-server", data)
    if not isinstance(table, dict):
        raise SettingError(f"config file {path}: [wsep-server] must be a table")
    return table


def apply_layers(
    parser: argparse.ArgumentParser,
    *,
    environ: Mapping[str, str],
    config: Mapping[str, Any] | None = None,
    config_path: str = "",
) -> dict[str, list[Any]]:
    """Set each flag's default from the config file, then from the environment.

    Returns the list flags' layered values for :func:`finish_namespace`.
    Raises :class:`SettingError` for a value the flag itself would refuse, or
    a config key that names no flag.
    """
    known = list(settings(parser))
    by_key: dict[str, Setting] = {}
    for s in known:
        by_key[s.key] = s
        by_key[s.key.replace("-", "_")] = s
    defaults: dict[str, Any] = {}
    for key, value in (config or {}).items():
        setting = by_key.get(key)
        if setting is None:
            raise SettingError(f"config file {config_path}: unknown setting {key!r}")
        defaults[setting.action.dest] = _from_file(setting, value, f"{config_path}: {key}")
    for setting in known:
        text = environ.get(setting.env)
        if text is not None:
            defaults[setting.action.dest] = _from_env(setting, text)
    lists: dict[str, list[Any]] = {}
    for setting in known:
        dest = setting.action.dest
        if setting.is_list:
            # Flags replace a list from the environment or the file, not add to it.
            lists[dest] = list(defaults.pop(dest, None) or setting.action.default or [])
            setting.action.default = None
    parser.set_defaults(**defaults)
    return lists


def finish_namespace(ns: argparse.Namespace, lists: Mapping[str, list[Any]]) -> None:
    """Fill the list flags not given on the command line from ``lists``."""
    for dest, value in lists.items():
        if getattr(ns, dest, None) is None:
            setattr(ns, dest, list(value))
