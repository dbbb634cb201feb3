"""A terminal-like session client: a shell session, its redraw, and xterm.js-style answers.

Programs such as vim query the terminal (device attributes, cursor position,
colours, modes, capabilities) and wait for answers; :func:`until_answering`
gives the answers xterm.js gives, computing the cursor position from its own
copy of what the client was sent.
"""

from __future__ import annotations

import asyncio
import re

from wsep_protocol import Command, ExitCode, Pid, Start
from wsep_server.sessions import TerminalState

from support.sessions import script
from support.wsclient import ClientPool, WsClient

__all__ = [
    "ALT_TOGGLE",
    "Answerer",
    "in_alternate_screen",
    "more_output_arrives_whole",
    "reattach",
    "redraw",
    "shell",
    "start_shell",
]

#: The end of every redraw: the cursor's visibility.
REDRAW_END = re.compile(rb"\x1b\[\?25[hl]")
_QUERY = re.compile(
    rb"\x1b\[(?P<da2>>0?c)|\x1b\[(?P<da1>0?c)|\x1b\[(?P<cpr>6n)|\x1b\[(?P<dsr>5n)"
    rb"|\x1b\[\?(?P<decrqm>\d+)\$p|\x1b\[(?P<ansirqm>\d+)\$p|\x1b\[>(?P<xtversion>0?q)"
    rb"|\x1b\](?P<osc>1[012]|4;\d+);\?(?:\x07|\x1b\\)|\x1bP\+q(?P<xtgettcap>[0-9a-fA-F;]*)\x1b\\"
    rb"|\x1bP\$q(?P<decrqss>[^\x1b]*)\x1b\\"
)


def shell(session_id: str, rows: int = 24, cols: int = 80) -> Start:
    env = ("PS1=# ", "TERM=xterm-256color", "ENV=", "LANG=C.UTF-8")
    return Start(Command("sh", (), stdin=True, tty=True, rows=rows, cols=cols, env=env), session_id)


async def redraw(client: WsClient) -> bytes:
    """The redraw a reattaching client gets (up to the cursor's visibility at its end)."""

    async def go() -> None:
        while not REDRAW_END.search(client.stdout):
            got = await client.recv()
            assert not isinstance(got, ExitCode), bytes(client.stdout)

    await asyncio.wait_for(go(), 60)
    end = REDRAW_END.search(client.stdout)
    assert end is not None
    return bytes(client.stdout[: end.end()])


async def start_shell(
    clients: ClientPool, url: str, session_id: str, cols: int = 80, rows: int = 24
) -> WsClient:
    a = await clients.start(url, shell(session_id, rows=rows, cols=cols))
    assert isinstance(await a.recv(), Pid)
    await a.until_output(b"# ")
    return a


async def reattach(clients: ClientPool, url: str, start: Start) -> tuple[WsClient, bytes]:
    """A new client of the session ``start`` names, and the redraw it got."""
    client = await clients.start(url, start)
    return client, await redraw(client)


#: ``alt_toggle.py`` as session ``alt``: ``alt``/``main`` switch screens, ``exit`` ends it.
ALT_TOGGLE = Start(script("alt_toggle.py", rows=24, cols=80), id="alt")


async def in_alternate_screen(clients: ClientPool, url: str) -> WsClient:
    """A client of ``ALT_TOGGLE`` once its program is in the alternate screen."""
    client = await clients.start(url, ALT_TOGGLE)
    await client.until_output(b"main> ")
    await client.type("alt\n")
    await client.until_output(b"alt> ")
    return client


async def more_output_arrives_whole(client: WsClient) -> None:
    mark = len(client.stdout)
    await client.type("seq 1 300000 | tail -1; seq 1 2000\n")
    await client.until_output(b"\r\n2000\r\n", timeout=120)
    tail = bytes(client.stdout[mark:])
    assert b"300000\r\n1\r\n" in tail
    numbers = tail[tail.index(b"300000\r\n1\r\n") + 8 :].split(b"\r\n")
    assert numbers[:2000] == [str(i).encode() for i in range(1, 2001)]


class Answerer:
    """Answers a client's terminal queries as xterm.js does; keeps the client's picture."""

    def __init__(self, client: WsClient, rows: int = 24, cols: int = 80) -> None:
        self.client = client
        self.view = TerminalState(rows, cols)
        self._seen = 0
        self.answered: list[bytes] = []

    async def until(self, needle: bytes, timeout: float = 60.0, *, start: int = 0) -> None:
        """Read (answering queries) until ``needle`` shows up after ``start``."""

        async def go() -> None:
            while True:
                await self._answer()
                if needle in self.client.stdout[start:]:
                    return
                got = await self.client.recv()
                if isinstance(got, ExitCode):
                    raise AssertionError(f"exit before {needle!r}")

        try:
            await asyncio.wait_for(go(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no {needle!r} in {bytes(self.client.stdout[-2000:])!r}"
            ) from None

    async def _answer(self) -> None:
        data = bytes(self.client.stdout)
        begin = max(0, self._seen - 64)
        for match in _QUERY.finditer(data, begin):
            if match.end() <= self._seen:
                continue
            self.view.feed(data[self._seen : match.end()])
            self._seen = match.end()
            answer = self._reply(match)
            if answer:
                self.answered.append(match.group())
                await self.client.type(answer.decode("latin-1"))
        self.view.feed(data[self._seen :])
        self._seen = len(data)

    def _reply(self, match: re.Match[bytes]) -> bytes:
        kind = match.lastgroup
        value = match.group(kind) if kind else b""
        if kind == "da1":
            return b"\x1b[?1;2c"
        if kind == "da2":
            return b"\x1b[>0;276;0c"
        if kind == "cpr":
            self.view.flush()
            cursor = self.view.screen.cursor
            return b"\x1b[%d;%dR" % (cursor.y + 1, min(cursor.x, self.view.screen.columns - 1) + 1)
        if kind == "dsr":
            return b"\x1b[0n"
        if kind == "decrqm":
            return b"\x1b[?%s;2$y" % value
        if kind == "ansirqm":
            return b"\x1b[%s;2$y" % value
        if kind == "xtversion":
            return b"\x1bP>|xterm.js(5.5.0)\x1b\\"
        if kind == "osc":
            return b"\x1b]%s;rgb:0000/0000/0000\x1b\\" % value
        if kind == "xtgettcap":
            return b"\x1bP0+r\x1b\\"
        if kind == "decrqss":
            return b"\x1bP0$r\x1b\\"
        return b""
