"""File transfer through a remote command: ``upload`` and ``download``.

Both stream (nothing is held in memory beyond a chunk), write and read the
local file with aiofiles, report progress, and compare SHA-256 hashes when
the remote host has ``sha256sum`` (``TransferResult.verified`` says whether
it did). Only a POSIX ``sh`` and ``cat`` are needed on the remote side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiofiles
import aiofiles.os
from wsep_protocol import Command

from .errors import ClientError, TransferError
from .process import ExecerProcess
from .streams import RemoteStreamReader

__all__ = ["Progress", "TransferResult", "download", "local_target", "upload"]

#: ``progress(done, total)``; ``total`` is None while the size is unknown.
Progress = Callable[[int, "int | None"], None]

CHUNK = 1 << 20

# $1 the remote path (a directory receives the file as $2, the local name); the
# data goes to a temporary file beside the target, renamed once it is complete.
_UPLOAD = (
    't="$1"; if [ -d "$t" ]; then t="${t%/}/$2"; fi; '
    'tmp=$(mktemp "$(dirname -- "$t")/.wsep-part.XXXXXX") || exit 1; '
    "trap 'rm -f -- \"$tmp\"' EXIT; trap 'exit 1' HUP INT TERM PIPE; "
    'cat > "$tmp" || exit 1; '
    'chmod "$(printf %o $((0666 & ~$(umask))))" "$tmp" || exit 1; '
    "if command -v sha256sum >/dev/null 2>&1; then "
    'printf "wsep-sha256 %s\\n" "$(sha256sum < "$tmp" | cut -d " " -f 1)"; fi; '
    'mv -f -- "$tmp" "$t" || exit 1; trap - EXIT; printf "wsep-path %s\\n" "$t"'
)
_DOWNLOAD = (
    'if [ ! -f "$1" ] || [ ! -r "$1" ]; then echo "$1: not a readable file" >&2; exit 66; fi; '
    'printf "wsep-size %s\\n" "$(wc -c < "$1")" >&2; '
    'cat -- "$1" || exit 1; '
    "if command -v sha256sum >/dev/null 2>&1; then "
    'printf "wsep-sha256 %s\\n" "$(sha256sum < "$1" | cut -d " " -f 1)" >&2; fi'
)


class _Starter(Protocol):
    async def start(self, command: Command, *, session_id: str = "") -> ExecerProcess: ...


@dataclass(frozen=True, slots=True)
class TransferResult:
    size: int
    sha256: str
    #: True when the remote side's hash was computed and matched.
    verified: bool


def _field(text: str, key: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(key + " "):
            return line[len(key) + 1 :].strip()
    return None


async def upload(
    execer: _Starter,
    local: str | os.PathLike[str],
    remote: str,
    *,
    progress: Progress | None = None,
    verify: bool = True,
) -> TransferResult:
    """Copy the local file ``local`` to ``remote`` on the server's host."""
    try:
        total: int | None = (await aiofiles.os.stat(local)).st_size
    except OSError as exc:
        raise TransferError(f"{local}: {exc.strerror}") from None
    name = os.path.basename(os.fspath(local))
    command = Command("sh", ("-c", _UPLOAD, "wsep-upload", remote, name), stdin=True)
    digest = hashlib.sha256()
    done = 0
    process = await execer.start(command)
    readers = asyncio.gather(_collect_text(process.stdout), _collect_text(process.stderr))
    try:
        try:
            async with aiofiles.open(local, "rb") as source:
                while True:
                    chunk = await source.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    process.stdin.write(chunk)
                    await process.stdin.drain()
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            process.stdin.close()
        except (BrokenPipeError, ClientError):
            pass  # the remote side failed early; its exit status (or the loss) says why
        except OSError as exc:
            raise TransferError(f"{local}: {exc.strerror or exc}") from None
        out, err = await readers
        status = await process.wait()
    finally:
        await process.close()
        await _settle(readers)
    if not status.success:
        raise TransferError(f"upload to {remote} failed: {err.strip() or status.error}")
    local_hash = digest.hexdigest()
    remote_hash = _field(out, "wsep-sha256")
    written = _field(out, "wsep-path") or remote
    if verify and remote_hash is not None and remote_hash != local_hash:
        with contextlib.suppress(Exception):
            await (await execer.start(Command("rm", ("-f", "--", written)))).wait()
        raise TransferError(
            f"upload to {remote}: SHA-256 mismatch (local {local_hash}, remote {remote_hash})"
        )
    return TransferResult(done, local_hash, remote_hash is not None)


async def download(
    execer: _Starter,
    remote: str,
    local: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    verify: bool = True,
) -> TransferResult:
    """Copy ``remote`` on the server's host to the local file ``local``.

    Writes ``local`` (a directory receives the file under its remote name)
    only once everything arrived and the hashes match: the data goes to a
    temporary file beside it, created exclusively (never through a planted
    symlink), renamed at the end.
    """
    target = local_target(os.fspath(local), remote)
    command = Command("sh", ("-c", _DOWNLOAD, "wsep-download", remote))
    digest = hashlib.sha256()
    done = 0
    stderr_lines: list[str] = []
    total: list[int | None] = [None]

    async def read_stderr(process: ExecerProcess) -> None:
        async for raw in process.stderr:
            line = raw.decode("utf-8", "replace")
            stderr_lines.append(line)
            size = _field(line, "wsep-size")
            if size is not None and size.isdigit():
                total[0] = int(size)

    fd, part = _create_part(target)
    try:
        process = await execer.start(command)
    except BaseException:
        os.close(fd)
        _remove(part)
        raise
    err_task = asyncio.ensure_future(read_stderr(process))
    try:
        try:
            async with aiofiles.open(fd, "wb") as sink:
                while True:
                    chunk = await process.stdout.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    await sink.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total[0])
        except ClientError:
            raise
        except OSError as exc:
            raise TransferError(f"{part}: {exc.strerror or exc}") from None
        await err_task
        status = await process.wait()
    except BaseException:
        _remove(part)
        raise
    finally:
        await process.close()
        await _settle(err_task)
    text = "".join(stderr_lines)
    if not status.success:
        _remove(part)
        detail = "\n".join(
            line for line in text.splitlines() if not line.startswith("wsep-")
        ).strip()
        raise TransferError(f"download of {remote} failed: {detail or status.error}")
    local_hash = digest.hexdigest()
    remote_hash = _field(text, "wsep-sha256")
    size = total[0]
    if verify and (
        (remote_hash is not None and remote_hash != local_hash)
        or (size is not None and size != done)
    ):
        _remove(part)
        raise TransferError(
            f"download of {remote}: integrity check failed "
            f"({done} of {size} bytes, local {local_hash}, remote {remote_hash})"
        )
    try:
        os.chmod(part, _new_file_mode(target))
        os.replace(part, target)
    except OSError as exc:
        _remove(part)
        raise TransferError(f"{target}: {exc.strerror or exc}") from None
    return TransferResult(done, local_hash, remote_hash is not None)


def local_target(local: str, remote: str) -> str:
    """Where a download of ``remote`` to ``local`` lands: into a directory as ``cp`` does."""
    name = remote.rstrip("/").rsplit("/", 1)[-1]
    if os.path.isdir(local):
        if not name or name in (".", ".."):
            raise TransferError(f"{remote}: not a file name to copy into {local}")
        return os.path.join(local, name)
    if local.endswith("/"):
        raise TransferError(f"{local}: no such directory")
    return local


def _create_part(target: str) -> tuple[int, str]:
    """A new, private temporary file in the target's directory (``mkstemp``: O_EXCL)."""
    directory, name = os.path.split(target)
    try:
        return tempfile.mkstemp(prefix=f".{name}.", suffix=".wsep-part", dir=directory or ".")
    except OSError as exc:
        raise TransferError(f"{target}: {exc.strerror or exc}") from None


def _new_file_mode(target: str) -> int:
    """The mode ``target`` keeps (when it exists) or a new file gets (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


async def _settle(future: asyncio.Future[Any]) -> None:
    """Cancel ``future`` if still running and consume its outcome (no stray warnings)."""
    if not future.done():
        future.cancel()
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


async def _collect_text(reader: RemoteStreamReader) -> str:
    return (await reader.read()).decode("utf-8", "replace")
