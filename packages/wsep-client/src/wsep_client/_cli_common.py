"""What the CLI commands share: one-line errors and their exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from wsep_protocol import ProtocolVersion, StartErrorKind, WsepError

from .errors import ClientError, ConnectError, ProcessTimeout, StartFailed
from .execer import RemoteExecer

__all__ = ["EXIT_CONNECT", "EXIT_TIMEOUT", "die", "execer_from_args", "run_async"]

EXIT_CONNECT = 255
EXIT_TIMEOUT = 124


def die(message: str, code: int) -> int:
    """Print ``wsep: message`` as one line on stderr and return ``code``."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"wsep: {text}\n")
    sys.stderr.flush()
    return code


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, StartFailed):
        if error.kind is StartErrorKind.COMMAND_NOT_FOUND:
            return 127
        return 126  # found but could not be run: permission, directory, policy, ...
    if isinstance(error, ProcessTimeout):
        return EXIT_TIMEOUT
    if isinstance(error, ConnectError):
        return EXIT_CONNECT
    return EXIT_CONNECT


def execer_from_args(args: argparse.Namespace, url: str | None = None) -> RemoteExecer:
    ssl: Any = True
    if getattr(args, "cacert", None):
        import ssl as _ssl

        try:
            ssl = _ssl.create_default_context(cafile=args.cacert)
        except (OSError, _ssl.SSLError) as exc:
            raise ConnectError(f"--cacert {args.cacert}: {exc}") from None
    if getattr(args, "insecure", False):
        ssl = False
    return RemoteExecer(
        url or args.url,
        token=args.token,
        ssl=ssl,
        version=ProtocolVersion.V1 if args.v1 else ProtocolVersion.V2,
    )


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run ``coro``; turn client errors into one-line messages and exit codes."""
    from wsep_protocol.malloc import tune_malloc

    tune_malloc()  # bulk transfers: keep big buffers off mmap (see wsep_protocol.malloc)
    try:
        return asyncio.run(coro)
    except (ClientError, WsepError) as exc:
        return die(str(exc), exit_code_for(exc))
    except KeyboardInterrupt:
        return die("interrupted", 130)
