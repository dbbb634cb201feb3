"""The wsep connection for Ansible: each command a wsep process, files streamed.

Ansible's connection plugins are synchronous and live for one task in a
forked worker, so each connection owns a private event loop and one
:class:`~wsep_client.RemoteExecer` (one ``aiohttp.ClientSession``) for the
task's commands and transfers.

Errors follow Ansible's split: no connection, a refused token or a dropped
connection raise ``AnsibleConnectionFailure`` (the host is unreachable); a
command the server refuses to start or a failed transfer raise
``AnsibleError`` (the task failed).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ..errors import ClientError, ConnectError, ConnectionLost
from ..execer import RemoteExecer, build_command
from ..inventory import Target
from ..process import ExecerProcess
from ..result import returncode_of
from ..transfer import download, upload

__all__ = ["Connection"]

T = TypeVar("T")
display = Display()
READ_SIZE = 1 << 16


class Connection(ConnectionBase):  # type: ignore[misc]
    """Runs Ansible's commands on a wsep server (``ansible_connection=wsep.wsep.wsep``)."""

    transport = "wsep.wsep.wsep"
    has_pipelining = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._execer: RemoteExecer | None = None

    # --- connection -------------------------------------------------------

    def _url(self) -> str:
        url = self.get_option("url")
        if url:
            return str(url)
        scheme = "wss" if self.get_option("tls") else "ws"
        host = str(self.get_option("remote_addr"))
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        path = str(self.get_option("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        return f"{scheme}://{host}:{self.get_option('port')}{path}"

    def _connect(self) -> Connection:
        if not self.connected:
            url = self._url()
            target = Target(
                name=str(self.get_option("remote_addr")),
                url=url,
                token=self.get_option("token") or None,
                token_file=self.get_option("token_file") or None,
                cafile=self.get_option("cafile") or None,
                insecure=not self.get_option("validate_certs"),
                client_cert=self.get_option("client_cert") or None,
                client_key=self.get_option("client_key") or None,
            )
            try:
                token, ssl = target.read_token(), target.ssl()
            except ClientError as exc:
                raise AnsibleConnectionFailure(f"wsep: {exc}") from None
            display.vvv(f"ESTABLISH WSEP CONNECTION TO {url}", host=target.name)
            self._loop = asyncio.new_event_loop()
            self._execer = RemoteExecer(
                url, token=token, ssl=ssl, connect_timeout=float(self.get_option("timeout"))
            )
            self._connected = True
        return self

    def close(self) -> None:
        if self._loop is not None:
            loop, self._loop = self._loop, None
            if self._execer is not None:
                loop.run_until_complete(self._execer.close())
                self._execer = None
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        self._connected = False

    def reset(self) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this connection's loop; client errors become Ansible's."""
        assert self._loop is not None
        try:
            return self._loop.run_until_complete(coro)
        except (ConnectError, ConnectionLost) as exc:
            raise AnsibleConnectionFailure(f"wsep: {exc}") from None
        except ClientError as exc:
            raise AnsibleError(f"wsep: {exc}") from None

    # --- commands ---------------------------------------------------------

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv(f"EXEC {cmd}", host=self._play_context.remote_addr)
        become = self.become if sudoable else None
        answer = become is not None and become.expect_prompt() and not in_data
        return self._run(self._exec(cmd, in_data, become if answer else None))

    async def _exec(self, cmd: str, in_data: bytes | None, become: Any) -> tuple[int, bytes, bytes]:
        assert self._execer is not None
        command = build_command(
            "/bin/sh", "-c", cmd, stdin=in_data is not None or become is not None
        )
        limit = int(self.get_option("command_timeout") or 0) or None
        out = bytearray()
        err = bytearray()
        process = await self._execer.start(command)
        try:

            async def body() -> int:
                if become is not None:
                    await _answer_password_prompt(process, become, out, err)
                await asyncio.gather(
                    _collect(process, "stdout", out),
                    _collect(process, "stderr", err),
                    process._feed(in_data),
                )
                return returncode_of(await process.wait())

            try:
                code = await asyncio.wait_for(body(), limit)
            except (asyncio.TimeoutError, TimeoutError):
                raise AnsibleConnectionFailure(
                    f"wsep: command timed out after {limit} s (command_timeout)"
                ) from None
        finally:
            await process.close()
        return code, bytes(out), bytes(err)

    # --- files ------------------------------------------------------------

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self._play_context.remote_addr)
        if not os.path.exists(in_path):
            raise AnsibleFileNotFound(f"file or module does not exist: {in_path}")
        assert self._execer is not None
        self._run(upload(self._execer, in_path, out_path))

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self._play_context.remote_addr)
        assert self._execer is not None
        self._run(download(self._execer, in_path, out_path))


async def _collect(process: ExecerProcess, stream: str, into: bytearray) -> None:
    reader = process.stdout if stream == "stdout" else process.stderr
    while chunk := await reader.read(READ_SIZE):
        into += chunk


async def _answer_password_prompt(
    process: ExecerProcess, become: Any, out: bytearray, err: bytearray
) -> None:
    """Read until the become plugin's prompt (then send the password) or its success line."""
    pending: dict[asyncio.Future[bytes], bytearray] = {}

    def arm(stream: str) -> None:
        reader = process.stdout if stream == "stdout" else process.stderr
        into = out if stream == "stdout" else err
        pending[asyncio.ensure_future(reader.read(READ_SIZE))] = into

    arm("stdout")
    arm("stderr")
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                into = pending.pop(future)
                chunk = future.result()
                into += chunk
                if chunk:
                    arm("stdout" if into is out else "stderr")
            if become.check_success(bytes(out)):
                return
            if become.check_password_prompt(bytes(out)) or become.check_password_prompt(bytes(err)):
                password = become.get_option("become_pass") or ""
                process.stdin.write(password.encode() + b"\n")
                await process.stdin.drain()
                out[:] = become.strip_become_prompt(bytes(out))
                return
        raise AnsibleError("wsep: become ended before its password prompt or success")
    finally:
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.wait(pending)
