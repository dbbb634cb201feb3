"""The redraw looks the same in a real terminal (tmux) as the live output did.

Two tmux panes of the session's size: one is given the bytes a client got
all along, the other the bytes a client got after reattaching (its redraw
and what followed). ``tmux capture-pane`` must show the same picture
(characters and attributes) and the cursor in the same place.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sessions import ServerFactory
from support.termclient import ALT_TOGGLE, in_alternate_screen, reattach, shell, start_shell
from support.wsclient import ClientPool, WsClient

pytestmark = [
    pytest.mark.once,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    """A private tmux server; panes that show a file's bytes as a terminal would."""

    def __init__(self, directory: Path, socket_dir: Path) -> None:
        self.directory = directory
        self.socket = str(socket_dir / "tmux.sock")
        self.count = 0

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    async def show(self, data: bytes, rows: int, cols: int) -> tuple[str, str]:
        """The picture (with attributes) and the cursor after a terminal was sent ``data``."""
        self.count += 1
        name = f"p{self.count}"
        path = self.directory / f"{name}.bin"
        path.write_bytes(data + b"\x1b]2;shown\x07")  # the marker that the bytes are in
        self.run(
            "new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows),
            f"stty raw -echo; cat {path}; exec sleep 600",
        )  # fmt: skip
        self.run("set-option", "-t", name, "status", "off")
        self.run("resize-window", "-t", name, "-x", str(cols), "-y", str(rows))
        for _ in range(600):
            if self.run("display-message", "-p", "-t", name, "#{pane_title}").strip() == "shown":
                break
            await asyncio.sleep(0.05)  # polling tmux for a condition, not timing
        else:
            raise AssertionError("tmux never showed the bytes")
        picture = self.run("capture-pane", "-p", "-e", "-t", name)
        cursor = self.run("display-message", "-p", "-t", name, "#{cursor_x},#{cursor_y}")
        return picture, cursor


@pytest.fixture
def tmux(tmp_path: Path, socket_dir: Path) -> Iterator[Tmux]:
    server = Tmux(tmp_path, socket_dir)
    yield server
    subprocess.run(
        ["tmux", "-S", server.socket, "kill-server"], capture_output=True, check=False, timeout=60
    )


async def _compare(tmux: Tmux, all_along: WsClient, late: WsClient, rows: int, cols: int) -> None:
    live = await tmux.show(bytes(all_along.stdout), rows, cols)
    reattached = await tmux.show(bytes(late.stdout), rows, cols)
    assert reattached[0] == live[0]
    assert reattached[1] == live[1]


@pytest.mark.parametrize("cols", [24, 80])
async def test_a_shell_with_wrapped_lines_colours_and_scrollback(
    server: ServerFactory, clients: ClientPool, tmux: Tmux, cols: int
) -> None:
    url, _ = await server()
    a = await start_shell(clients, url, "shell", cols=cols, rows=10)
    await a.type(
        "echo test:$((123456+123456)); printf '\\033[1;31mred bold\\033[0m plain "
        "\\033[44mblue background that goes on and on\\033[0m\\n'; seq 1 30; "
        "printf 'x%.0s' $(seq 1 100); echo; printf '\\033[7mreverse\\033[0m done-'; echo $((2+2))\n"
    )
    await a.until_output(b"done-4\r\n# ")
    b, _ = await reattach(clients, url, shell("shell", rows=10, cols=cols))
    await a.type("echo after-$((3+3))\n")
    for client in (a, b):
        await client.until_output(b"after-6\r\n# ")
    await _compare(tmux, a, b, 10, cols)


async def test_the_alternate_screen_and_back(
    server: ServerFactory, clients: ClientPool, tmux: Tmux
) -> None:
    url, _ = await server()
    a = await in_alternate_screen(clients, url)
    b, _ = await reattach(clients, url, ALT_TOGGLE)
    await _compare(tmux, a, b, 24, 80)
    await b.type("main\n")
    for client in (a, b):
        await client.until_output(b"back 1\r\nmain> ")
    await _compare(tmux, a, b, 24, 80)
    await b.type("exit\n")
