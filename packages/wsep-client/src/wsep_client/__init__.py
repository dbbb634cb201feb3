"""wsep client: run commands on a wsep server from Python or the shell.

::

    async with wsep_client.connect("ws://host:8080", token=...) as remote:
        result = await remote.run("uname", "-a", check=True)
        print(result.stdout.decode())
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: importing typing costs ~10 ms, and ``wsep run``
# through a control master must start in a few (mypy honours the name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .connect import connect
    from .errors import (
        Aborted,
        AuthenticationError,
        CertificateError,
        ClientError,
        ConnectError,
        ConnectionLost,
        InternalError,
        InvalidURL,
        LocalProtocolError,
        NoSuchSession,
        NotSupported,
        OutputGap,
        ProcessError,
        ProcessTimeout,
        StartFailed,
        StartRefused,
        TransferError,
    )
    from .execer import RemoteExecer, WebSocketExecer, build_command
    from .fleet import Fleet, FleetResults, FleetStream, Line, TargetResult
    from .inventory import Inventory, InventoryError, Target
    from .process import RemoteProcess
    from .result import CompletedProcess
    from .resume import ResumeOptions
    from .sessions import SessionDescription
    from .streams import DEFAULT_LIMIT, RemoteStdin, RemoteStreamReader
    from .text import TextProcess
    from .transfer import TransferResult, download, upload
    from .tuning import tune_malloc

# Imported on first use, so that ``wsep --help`` does not pay for aiohttp.
_LAZY = {
    "Aborted": "errors",
    "Fleet": "fleet",
    "FleetResults": "fleet",
    "FleetStream": "fleet",
    "Line": "fleet",
    "TargetResult": "fleet",
    "Inventory": "inventory",
    "InventoryError": "inventory",
    "Target": "inventory",
    "AuthenticationError": "errors",
    "CertificateError": "errors",
    "InvalidURL": "errors",
    "LocalProtocolError": "errors",
    "ClientError": "errors",
    "ConnectError": "errors",
    "ConnectionLost": "errors",
    "InternalError": "errors",
    "NotSupported": "errors",
    "OutputGap": "errors",
    "ResumeOptions": "resume",
    "NoSuchSession": "errors",
    "SessionDescription": "sessions",
    "ProcessError": "errors",
    "ProcessTimeout": "errors",
    "StartFailed": "errors",
    "StartRefused": "errors",
    "TransferError": "errors",
    "RemoteExecer": "execer",
    "WebSocketExecer": "execer",
    "build_command": "execer",
    "connect": "connect",
    "RemoteProcess": "process",
    "CompletedProcess": "result",
    "TextProcess": "text",
    "DEFAULT_LIMIT": "streams",
    "RemoteStdin": "streams",
    "RemoteStreamReader": "streams",
    "TransferResult": "transfer",
    "download": "transfer",
    "upload": "transfer",
    "tune_malloc": "tuning",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wsep_client' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LIMIT",
    "Aborted",
    "AuthenticationError",
    "CertificateError",
    "ClientError",
    "CompletedProcess",
    "ConnectError",
    "ConnectionLost",
    "Fleet",
    "FleetResults",
    "FleetStream",
    "InternalError",
    "InvalidURL",
    "Inventory",
    "InventoryError",
    "Line",
    "LocalProtocolError",
    "NoSuchSession",
    "NotSupported",
    "OutputGap",
    "ProcessError",
    "ProcessTimeout",
    "RemoteExecer",
    "RemoteProcess",
    "RemoteStdin",
    "RemoteStreamReader",
    "ResumeOptions",
    "SessionDescription",
    "StartFailed",
    "StartRefused",
    "Target",
    "TargetResult",
    "TextProcess",
    "TransferError",
    "TransferResult",
    "WebSocketExecer",
    "__version__",
    "build_command",
    "connect",
    "download",
    "tune_malloc",
    "upload",
]
