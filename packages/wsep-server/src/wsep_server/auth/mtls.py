"""TLS client certificates (mTLS): the verified certificate's subject is the identity.

The TLS layer does the verification (against the configured client CA); a
certificate that does not verify fails the handshake, so no request is ever
seen. A connection without a certificate (allowed when client certificates are
optional) is left to the other authenticators.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..hooks import Identity
from .base import AuthRejected, make_identity

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["ClientCertAuthenticator", "format_name", "server_ssl_context"]


def server_ssl_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None = None,
    *,
    client_ca: str | os.PathLike[str] | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A server context (TLS 1.2+); with ``client_ca``, client certificates are verified."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        ctx.load_verify_locations(cafile=os.fspath(client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("require_client_cert needs client_ca")
    return ctx


def _rdns(name: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for rdn in name or ():
        for key, value in rdn:
            pairs.append((str(key), str(value)))
    return pairs


_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "emailAddress": "emailAddress",
}


def format_name(name: Any) -> str:
    """An ``ssl`` name tuple as ``CN=alice,O=Example``."""
    return ",".join(f"{_SHORT.get(k, k)}={v}" for k, v in _rdns(name))


class ClientCertAuthenticator:
    """Identity from the verified client certificate.

    ``name_from``: ``"CN"`` (the subject's common name; the default) or
    ``"subject"`` (the whole subject, ``CN=...,O=...``). ``allowed_issuers``,
    when given, restricts which issuing CAs (formatted names) are accepted
    beyond what the TLS context trusts.
    """

    scheme = ""

    def __init__(
        self, *, name_from: str = "CN", allowed_issuers: Sequence[str] | None = None
    ) -> None:
        if name_from not in ("CN", "subject"):
            raise ValueError("name_from must be 'CN' or 'subject'")
        self.name_from = name_from
        self.allowed_issuers = None if allowed_issuers is None else frozenset(allowed_issuers)

    async def authenticate(self, request: web.Request) -> Identity | None:
        transport = request.transport
        if transport is None or transport.get_extra_info("sslcontext") is None:
            return None
        cert = transport.get_extra_info("peercert")
        if not cert:
            return None
        subject = format_name(cert.get("subject"))
        issuer = format_name(cert.get("issuer"))
        if self.allowed_issuers is not None and issuer not in self.allowed_issuers:
            raise AuthRejected("client certificate issuer not accepted", status=403)
        if self.name_from == "CN":
            names = [v for k, v in _rdns(cert.get("subject")) if k == "commonName"]
            if not names:
                raise AuthRejected("client certificate has no common name", status=403)
            name = names[-1]
        else:
            name = subject
        return make_identity(
            name,
            auth="mtls",
            subject=subject,
            issuer=issuer,
            serial=str(cert.get("serialNumber", "")),
        )
