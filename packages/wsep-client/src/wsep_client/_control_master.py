"""The control master: one warm SDK process that runs ``wsep run`` for thin clients.

``python -m wsep_client._control_master SOCKET`` (started by the thin client,
configured through ``WSEP_CONTROL_CONFIG``). It listens on a Unix socket in
a 0700 directory and serves only peers of its own uid (``SO_PEERCRED``); it
copies between the WebSocket and the descriptors each client passed, with
the same :func:`~wsep_client._cli_run.drive` as a direct ``wsep run``; it
exits after ``persist`` idle seconds or on ``wsep control stop``. One master
per server URL and credentials; a lock file keeps a second one from starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wsep_protocol import ProtocolVersion, WsepError

from ._cli_common import exit_code_for
from ._cli_run import Controls, RunRequest, drive, start_remote, write_all
from ._control_wire import Decoder, encode, peer_uid
from .errors import ClientError
from .execer import RemoteExecer

__all__ = ["ControlMaster", "main"]

log = logging.getLogger("wsep_client.control")

#: Writes to a client's stdout/stderr block (they are the client's own
#: descriptors, left in blocking mode), so they run on threads.
WRITER_THREADS = 64


class ControlMaster:
    def __init__(self, path: str, execer: RemoteExecer, persist: float) -> None:
        self.path = path
        self.execer = execer
        self.persist = persist
        self.running = 0
        #: Commands run since the start (``wsep control status`` shows it).
        self.served = 0
        self._idle_since = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="wsep-out")

    async def serve(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._idle_since = loop.time()
        self._inode = os.stat(self.path).st_ino
        stop = loop.create_future()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, _resolve, stop)
        self._stop = stop
        accept: asyncio.Future[Any] = asyncio.ensure_future(loop.sock_accept(listener))
        try:
            while not stop.done():
                await asyncio.wait([accept, stop], timeout=1.0, return_when="FIRST_COMPLETED")
                if accept.done():
                    conn, _ = accept.result()
                    accept = asyncio.ensure_future(loop.sock_accept(listener))
                    task = loop.create_task(self._serve_client(conn))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif self.running == 0 and loop.time() - self._idle_since >= self.persist:
                    log.info("idle for %g s: exiting", self.persist)
                    break
        finally:
            accept.cancel()
            self._unlink()
            listener.close()
            if self._tasks:  # stopping lets the running commands finish
                await asyncio.wait(list(self._tasks))
            await self.execer.close()
            self._writers.shutdown(wait=False)

    def _unlink(self) -> None:
        """Remove our socket file, unless a newer master has replaced it meanwhile."""
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)

    async def _serve_client(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        fds: list[int] = []
        with conn:
            conn.setblocking(False)
            try:
                if peer_uid(conn) != os.getuid():
                    log.warning("refused a client of another uid")
                    return
                decoder = Decoder()
                message = await _first_message(conn, decoder, fds)
                if message is None:
                    return
                op = message.get("op")
                if op == "status":
                    await loop.sock_sendall(conn, encode(self._status()))
                elif op == "stop":
                    await loop.sock_sendall(conn, encode(self._status()))
                    if not self._stop.done():
                        self._stop.set_result(None)
                elif op == "run" and len(fds) == 3:
                    await self._run(conn, decoder, message, (fds[0], fds[1], fds[2]))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("client: %s", exc)  # a broken or foreign peer; the master serves on
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "running": self.running,
            "served": self.served,
            "persist": self.persist,
        }

    async def _run(
        self,
        conn: socket.socket,
        decoder: Decoder,
        message: dict[str, Any],
        fds: tuple[int, int, int],
    ) -> None:
        loop = asyncio.get_running_loop()
        request = RunRequest(**message["request"])
        self.running += 1
        self.served += 1
        try:
            code, error = await self._run_command(conn, decoder, request, fds)
        finally:
            self.running -= 1
            if self.running == 0:
                self._idle_since = loop.time()
        for fd in fds:  # before the exit: the client's readers see EOF when it exits
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            await loop.sock_sendall(conn, encode({"exit": code, "error": error}))

    async def _run_command(
        self,
        conn: socket.socket,
        decoder: Decoder,
        request: RunRequest,
        fds: tuple[int, int, int],
    ) -> tuple[int, str]:
        try:
            process = await start_remote(self.execer, request)
        except (ClientError, WsepError) as exc:
            return exit_code_for(exc), str(exc)
        controls = Controls(process)
        listener = asyncio.ensure_future(_listen(conn, decoder, controls))
        try:
            return await drive(process, request, controls, fds, self._write)
        except (ClientError, WsepError) as exc:
            return exit_code_for(exc), str(exc)
        finally:
            listener.cancel()
            await asyncio.wait([listener])
            await process.close()

    async def _write(self, fd: int, data: bytes) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writers, write_all, fd, data)


async def _first_message(
    conn: socket.socket, decoder: Decoder, fds: list[int]
) -> dict[str, Any] | None:
    """The request, with the descriptors that came with it (kept in ``fds``)."""
    loop = asyncio.get_running_loop()
    space = socket.CMSG_SPACE(3 * 4)
    while True:
        message = decoder.next()
        if message is not None:
            return message
        await _readable(loop, conn)
        try:
            data, ancillary, _flags, _addr = conn.recvmsg(65536, space)
        except BlockingIOError:
            continue
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                count = len(payload) // 4
                fds.extend(
                    int.from_bytes(payload[i * 4 : i * 4 + 4], sys.byteorder) for i in range(count)
                )
        if not data:
            return None
        decoder.feed(data)


async def _readable(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(conn.fileno(), _resolve, ready)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _listen(conn: socket.socket, decoder: Decoder, controls: Controls) -> None:
    """Signals and resizes from the client; its end (killed, say) ends the command."""
    loop = asyncio.get_running_loop()
    while True:
        message = decoder.next()
        if message is None:
            try:
                data = await loop.sock_recv(conn, 65536)
            except OSError:
                data = b""
            if not data:
                controls.terminate(signal.SIGHUP)  # as sshd does when the client goes
                return
            decoder.feed(data)
            continue
        if "signal" in message:
            signum = int(message["signal"])
            if signum == signal.SIGINT:
                controls.interrupt()
            else:
                controls.terminate(signum)
        elif "resize" in message:
            rows, cols = message["resize"]
            controls.resize(int(rows), int(cols))


def _execer(config: dict[str, Any]) -> RemoteExecer:
    import ssl as _ssl

    ssl: Any = True
    if config.get("cacert"):
        ssl = _ssl.create_default_context(cafile=config["cacert"])
    if config.get("insecure"):
        ssl = False
    return RemoteExecer(
        config["url"],
        token=config.get("token"),
        ssl=ssl,
        version=ProtocolVersion.V1 if config.get("v1") else ProtocolVersion.V2,
    )


def _listen_socket(path: str) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # stale: we hold the lock, so no master is serving it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(128)
    listener.setblocking(False)
    return listener


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m wsep_client._control_master SOCKET", file=sys.stderr)
        return 2
    path = args[0]
    config = json.loads(os.environ.pop("WSEP_CONTROL_CONFIG", "{}"))
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s wsep control [{os.getpid()}] %(message)s"
    )
    lock = open(path + ".lock", "a")  # noqa: SIM115 -- held for the master's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another master serves this socket
    from wsep_protocol.malloc import tune_malloc

    tune_malloc()
    listener = _listen_socket(path)
    log.info("serving %s for %s", path, config.get("url"))
    master = ControlMaster(path, _execer(config), float(config.get("persist", 300.0)))
    asyncio.run(master.serve(listener))
    return 0


if __name__ == "__main__":
    sys.exit(main())
