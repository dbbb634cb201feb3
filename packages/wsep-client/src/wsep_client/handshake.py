"""Opening the WebSocket, and saying precisely why it could not be opened."""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
from wsep_protocol import V2_MAX_MESSAGE_SIZE, ProtocolVersion, client_offer, selected_version

from .errors import AuthenticationError, CertificateError, ConnectError

__all__ = ["SSLArg", "negotiated_version", "open_websocket"]

SSLArg = _ssl.SSLContext | bool | aiohttp.Fingerprint | None


async def open_websocket(
    http_session: aiohttp.ClientSession,
    url: str,
    *,
    version: ProtocolVersion,
    headers: Mapping[str, str],
    ssl: SSLArg,
    heartbeat: float | None,
    timeout: float | None,
) -> aiohttp.ClientWebSocketResponse[Any]:
    """Open the WebSocket (offering the subprotocols of ``version``, no compression).

    For v1 nothing is offered, exactly like the Go client; for v2 ``wsep.v2``
    and ``wsep.v1``, so that a server that speaks only v1 can still answer.
    Every failure becomes a :class:`ConnectError` that says what happened.
    """
    ws_timeout = aiohttp.ClientWSTimeout(ws_close=10.0)
    if ssl is None:
        ssl = True
    try:
        coro = http_session.ws_connect(
            url,
            protocols=client_offer(version),
            headers=headers,
            ssl=ssl,
            compress=0,
            # +1: aiohttp refuses a message of exactly max_msg_size bytes, and the
            # protocol's limit is inclusive (the session ring sends full ones).
            max_msg_size=V2_MAX_MESSAGE_SIZE + 1,
            heartbeat=heartbeat,
            timeout=ws_timeout,
            autoping=True,
        )
        return await asyncio.wait_for(coro, timeout)
    except aiohttp.WSServerHandshakeError as exc:
        raise await _handshake_error(http_session, url, headers, ssl, exc) from None
    except aiohttp.ClientConnectorCertificateError as exc:
        raise CertificateError(
            f"TLS certificate of {url} rejected: {_reason(exc.certificate_error)}; "
            "to trust it, give its CA certificate with --cacert FILE "
            "(SDK: ssl=ssl.create_default_context(cafile=FILE)), or skip verification "
            "with --insecure (SDK: ssl=False)",
            url=url,
        ) from None
    except aiohttp.ClientConnectorError as exc:
        raise ConnectError(
            f"cannot connect to {url}: {_os_reason(exc.os_error)}", url=url
        ) from None
    except (asyncio.TimeoutError, TimeoutError):
        raise ConnectError(f"cannot connect to {url}: timed out", url=url) from None
    except aiohttp.InvalidURL as exc:
        raise ConnectError(f"invalid URL: {exc}", url=url) from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise ConnectError(f"cannot connect to {url}: {exc}", url=url) from None


def negotiated_version(ws: aiohttp.ClientWebSocketResponse[Any]) -> ProtocolVersion:
    """The version the server's answer selected (:func:`wsep_protocol.selected_version`)."""
    return selected_version(ws.protocol)


async def _handshake_error(
    http_session: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str],
    ssl: SSLArg,
    exc: aiohttp.WSServerHandshakeError,
) -> ConnectError:
    status = exc.status
    if status in (401, 403):
        detail = _header_detail(exc.headers) or await _fetch_detail(http_session, url, headers, ssl)
        word = "authentication rejected" if status == 401 else "access denied"
        text = f"{word} by {url} (HTTP {status})"
        if detail:
            text += f": {detail}"
        return AuthenticationError(text, url=url, status=status, detail=detail)
    if status == 101:
        return ConnectError(
            f"WebSocket handshake with {url} failed: {exc.message}",
            url=url,
            status=status,
        )
    detail = _header_detail(exc.headers)
    text = f"WebSocket handshake with {url} failed: HTTP {status} {exc.message}".rstrip()
    return ConnectError(f"{text}: {detail}" if detail else text, url=url, status=status)


async def _fetch_detail(
    http_session: aiohttp.ClientSession, url: str, headers: Mapping[str, str], ssl: SSLArg
) -> str:
    """The body of the refusal: aiohttp drops it on a failed handshake, so ask again."""
    http_url = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    try:
        async with http_session.get(
            http_url,
            headers=headers,
            ssl=ssl,
            timeout=aiohttp.ClientTimeout(total=5),
        ) as resp:
            if resp.status not in (401, 403):
                return ""
            body = await resp.content.read(1024)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
        return ""
    return _clean(body.decode("utf-8", "replace"))


def _reason(error: BaseException) -> str:
    """OpenSSL's verification message ("self-signed certificate") when there is one."""
    if isinstance(error, _ssl.SSLCertVerificationError) and error.verify_message:
        return error.verify_message
    return str(error)


def _os_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


def _header_detail(headers: Any) -> str:
    if not headers:
        return ""
    value = headers.get("X-Wsep-Error")
    if value:
        return _clean(value)
    challenge = headers.get("WWW-Authenticate", "")
    marker = 'error_description="'
    if marker in challenge:
        return _clean(challenge.split(marker, 1)[1].split('"', 1)[0])
    return ""


def _clean(text: str) -> str:
    text = " ".join(text.split())
    for prefix in ("401: ", "403: "):
        text = text.removeprefix(prefix)
    return text[:300]
