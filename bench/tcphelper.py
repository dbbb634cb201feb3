"""Baseline peers over raw loopback TCP, run as a separate process.

``python -m bench.tcphelper sink``: accepts connections one after another,
counts the bytes of each until EOF and answers with the count (8 bytes).
``python -m bench.tcphelper echo``: an asyncio echo server for many connections.
Both print the port they listen on as their first line.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from .procs import raise_nofile

__all__ = ["main"]


def sink() -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    print(srv.getsockname()[1], flush=True)
    buf = bytearray(1 << 20)
    while True:
        conn, _ = srv.accept()
        with conn:
            total = 0
            while True:
                n = conn.recv_into(buf)
                if not n:
                    break
                total += n
            conn.sendall(total.to_bytes(8, "big"))


async def _echo_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def echo() -> None:
    server = await asyncio.start_server(_echo_conn, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    raise_nofile()
    if argv[0] == "sink":
        sink()
    elif argv[0] == "echo":
        asyncio.run(echo())
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        pass
