"""Targets of a fleet run: each a server URL with its credentials, TLS and groups.

An inventory is written in Python or read from TOML::

    [defaults]                       # applies to every target (optional)
    token_file = "~/.config/wsep/token"
    cafile = "/etc/wsep/ca.pem"

    [targets.web1]
    url = "wss://web1.example.com:8080/"
    groups = ["web"]
    labels = { dc = "fra" }

    [targets.db1]
    url = "wss://db1.example.com:8080/"
    token = "..."                    # or token_file; token wins
    groups = ["db"]

    [groups]                         # optional: more members by name
    prod = ["web1", "db1"]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ClientError, ConnectError

__all__ = ["Inventory", "InventoryError", "Target"]

_KEYS = frozenset(
    {"url", "token", "token_file", "cafile", "insecure", "client_cert", "client_key", "labels"}
)


class InventoryError(ClientError, ValueError):
    """The inventory file or selection is invalid (says where and why)."""


@dataclass(frozen=True)
class Target:
    """One server. ``name`` labels its output; ``groups``/``labels`` select it."""

    name: str
    url: str
    token: str | None = None
    token_file: str | None = None
    cafile: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    groups: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def read_token(self) -> str | None:
        """The token, read from ``token_file`` when no literal one is given."""
        if self.token is not None or self.token_file is None:
            return self.token
        path = os.path.expanduser(self.token_file)
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as exc:
            raise ConnectError(f"{self.name}: token file {path}: {exc.strerror}") from None

    def ssl(self) -> Any:
        """What ``RemoteExecer(ssl=...)`` takes: a context, or False for ``insecure``."""
        if self.insecure:
            return False
        if not (self.cafile or self.client_cert):
            return True
        return ssl_context(self.cafile, self.client_cert, self.client_key, where=self.name)

    def matches(self, selector: str) -> bool:
        """``all``, the target's name, one of its groups, or ``key=value`` of its labels."""
        if selector in ("all", self.name) or selector in self.groups:
            return True
        key, eq, value = selector.partition("=")
        return bool(eq) and self.labels.get(key) == value


def ssl_context(
    cafile: str | None,
    client_cert: str | None = None,
    client_key: str | None = None,
    *,
    where: str = "",
) -> Any:
    """A verifying TLS context trusting ``cafile`` (default: the system's CAs),
    presenting ``client_cert``/``client_key`` when given."""
    import ssl as _ssl

    prefix = f"{where}: " if where else ""
    try:
        context = _ssl.create_default_context(cafile=os.path.expanduser(cafile) if cafile else None)
        if client_cert:
            context.load_cert_chain(
                os.path.expanduser(client_cert),
                os.path.expanduser(client_key) if client_key else None,
            )
    except (OSError, _ssl.SSLError) as exc:
        raise ConnectError(f"{prefix}TLS files: {exc}") from None
    return context


class Inventory:
    """An ordered set of :class:`Target` with unique names."""

    def __init__(self, targets: Iterable[Target] = ()) -> None:
        self.targets: tuple[Target, ...] = tuple(targets)
        seen: set[str] = set()
        for target in self.targets:
            if target.name in seen:
                raise InventoryError(f"target {target.name!r} appears twice")
            seen.add(target.name)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Inventory({[t.name for t in self.targets]!r})"

    def select(self, selector: str) -> Inventory:
        """The targets matching ``selector`` (see :meth:`Target.matches`); an error if none."""
        chosen = [t for t in self.targets if t.matches(selector)]
        if not chosen:
            raise InventoryError(f"no target matches {selector!r}")
        return Inventory(chosen)

    @classmethod
    def from_urls(cls, urls: Iterable[str], **options: Any) -> Inventory:
        """One target per URL, named by its host and port; ``options`` apply to all."""
        from urllib.parse import urlsplit

        targets = []
        for url in urls:
            parts = urlsplit(url)
            name = parts.netloc or url
            targets.append(Target(name=name, url=url, **options))
        return cls(targets)

    @classmethod
    def loads(cls, text: str, *, source: str = "<inventory>") -> Inventory:
        """An inventory from TOML text (the format in this module's docstring)."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InventoryError(f"{source}: {exc}") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Inventory:
        """An inventory from a TOML file; relative file paths in it are relative to it."""
        name = os.fspath(path)
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise InventoryError(f"{name}: {exc.strerror}") from None
        inventory = cls.loads(text, source=name)
        base = os.path.dirname(os.path.abspath(name))
        return cls(_relative_to(t, base) for t in inventory)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<inventory>") -> Inventory:
        unknown = set(data) - {"defaults", "targets", "groups"}
        if unknown:
            raise InventoryError(f"{source}: unknown sections {sorted(unknown)}")
        defaults = _table(data.get("defaults", {}), f"{source}: [defaults]")
        extra_groups = _table(data.get("groups", {}), f"{source}: [groups]")
        targets = _table(data.get("targets", {}), f"{source}: [targets]")
        if not targets:
            raise InventoryError(f"{source}: no [targets.NAME] tables")
        members: dict[str, list[str]] = {}
        for group, names in extra_groups.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise InventoryError(f"{source}: [groups] {group} must be a list of names")
            for name in names:
                if name not in targets:
                    raise InventoryError(f"{source}: [groups] {group}: no target {name!r}")
                members.setdefault(name, []).append(group)
        result = []
        for name, raw in targets.items():
            where = f"{source}: [targets.{name}]"
            entry = {**defaults, **_table(raw, where)}
            result.append(_target(name, entry, members.get(name, []), where))
        return cls(result)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InventoryError(f"{where} must be a table")
    return value


def _target(name: str, entry: dict[str, Any], more_groups: list[str], where: str) -> Target:
    unknown = set(entry) - _KEYS - {"groups"}
    if unknown:
        raise InventoryError(f"{where}: unknown keys {sorted(unknown)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise InventoryError(f"{where}: url must be a ws:// or wss:// URL")
    for key in ("token", "token_file", "cafile", "client_cert", "client_key"):
        if key in entry and not isinstance(entry[key], str):
            raise InventoryError(f"{where}: {key} must be a string")
    if not isinstance(entry.get("insecure", False), bool):
        raise InventoryError(f"{where}: insecure must be true or false")
    groups = entry.get("groups", [])
    labels = entry.get("labels", {})
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InventoryError(f"{where}: groups must be a list of strings")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise InventoryError(f"{where}: labels must be a table of strings")
    return Target(
        name=name,
        url=url,
        token=entry.get("token"),
        token_file=entry.get("token_file"),
        cafile=entry.get("cafile"),
        insecure=entry.get("insecure", False),
        client_cert=entry.get("client_cert"),
        client_key=entry.get("client_key"),
        groups=tuple(dict.fromkeys([*groups, *more_groups])),
        labels=dict(labels),
    )


def _relative_to(target: Target, base: str) -> Target:
    def fix(path: str | None) -> str | None:
        if path is None:
            return None
        path = os.path.expanduser(path)
        return path if os.path.isabs(path) else os.path.join(base, path)

    return replace(
        target,
        token_file=fix(target.token_file),
        cafile=fix(target.cafile),
        client_cert=fix(target.client_cert),
        client_key=fix(target.client_key),
    )
