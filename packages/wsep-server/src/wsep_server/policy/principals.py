"""``[principals]``: proofs of identity the policy declares to be one person.

::

    [principals]
    alice = ["token:alice", "jwt:alice"]   # one person: they share sessions

Sessions are scoped by how an identity was proven (``token:alice`` is not
``jwt:alice``); a proof listed here is scoped as its principal instead
(``principal:alice``). Policy sections still match the bare name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..hooks import Identity

__all__ = ["AUTH_METHODS", "PRINCIPAL_PREFIX", "parse_principals", "with_principal"]

#: The ``auth`` attribute values the server's authenticators set.
AUTH_METHODS: tuple[str, ...] = ("token", "jwt", "basic", "mtls", "proxy", "unix")
#: Session scopes from the policy: apart from every ``<method>:<name>`` and bare name.
PRINCIPAL_PREFIX = "principal:"


def _fail(name: str, message: str) -> ValueError:
    return ValueError(f"policy [principals] {name}: {message}")


def parse_principals(table: Any) -> dict[str, str]:
    """Proof (``<method>:<name>``) to principal name; raises ``ValueError`` naming the entry."""
    if not isinstance(table, dict):
        raise ValueError('policy [principals] must be a table of name = ["<method>:<name>", ...]')
    owners: dict[str, str] = {}
    for name, proofs in table.items():
        if not name:
            raise _fail(repr(name), "a principal needs a name")
        if not isinstance(proofs, list) or not all(isinstance(p, str) for p in proofs):
            raise _fail(name, 'must be a list of "<method>:<name>" strings')
        for proof in proofs:
            method, colon, who = proof.partition(":")
            if not colon or not who:
                raise _fail(name, f'{proof!r} is not "<method>:<name>"')
            if method not in AUTH_METHODS:
                known = ", ".join(AUTH_METHODS)
                raise _fail(name, f"{proof!r}: unknown method {method!r} (one of {known})")
            if proof in owners:
                raise _fail(name, f"{proof!r} is already listed for {owners[proof]!r}")
            owners[proof] = name
    return owners


def with_principal(identity: Identity | None, principals: Mapping[str, str]) -> Identity | None:
    """``identity`` with the ``principal`` attribute its proof maps to, if the policy maps it."""
    if identity is None or not principals:
        return identity
    method = identity.attributes.get("auth")
    name = principals.get(f"{method}:{identity.name}") if method else None
    if name is None:
        return identity
    attributes = {**identity.attributes, "principal": PRINCIPAL_PREFIX + name}
    return dataclasses.replace(identity, attributes=attributes)
