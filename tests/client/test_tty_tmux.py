"""``wsep run -t`` driven in a real tmux pane against a real server subprocess.

Checks raw mode while it runs, SIGWINCH reaching the remote ``stty size``,
Ctrl-C going to the remote side, the exit code, and the terminal restored.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
    pytest.mark.usefixtures("no_leaked_children"),
]

REMOTE = r"""
trap 'echo GOT-INT' INT
stty size
echo READY
while :; do
  read a || continue
  stty size
  [ "$a" = q ] && exit 5
done
"""


class Tmux:
    def __init__(self, tmp) -> None:  # type: ignore[no-untyped-def]
        self.socket = f"wsep-test-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp

    def __call__(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return out.stdout.decode()

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen:\n{screen}")
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def _stty(tty: str, *args: str) -> str:
    return subprocess.run(
        ["stty", "-F", tty, *args], check=True, capture_output=True, timeout=10
    ).stdout.decode()


def test_tty_mode_in_tmux(start_server_process, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server_process()
    wsep = os.path.join(os.path.dirname(sys.executable), "wsep")
    script = tmp_path / "pane.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'stty -g > "{tmp_path}/before"\n'
        f'"{wsep}" run -t -- sh -c "$REMOTE"\n'
        f'echo $? > "{tmp_path}/rc"\n'
        f'stty -g > "{tmp_path}/after"\n'
        "echo PANE-DONE\n"
        "exec sleep 600\n"
    )
    script.chmod(0o755)
    tmux = Tmux(tmp_path)
    env = ["-e", f"WSEP_URL={server.url}", "-e", f"REMOTE={REMOTE}"]
    try:
        tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", *env, str(script))
        tmux("set-option", "-t", "t", "window-size", "manual")
        screen = tmux.wait_for("READY")
        assert "30 100" in screen
        pane_tty = tmux("display-message", "-p", "-t", "t", "#{pane_tty}").strip()
        settings = _stty(pane_tty, "-a")
        assert "-icanon" in settings
        assert "-echo " in settings
        assert "-isig" in settings

        tmux("resize-window", "-t", "t", "-x", "90", "-y", "25")
        deadline = time.monotonic() + 30
        while "25 90" not in tmux.screen():
            assert time.monotonic() < deadline, tmux.screen()
            tmux("send-keys", "-t", "t", "x", "Enter")
            time.sleep(0.1)

        tmux("send-keys", "-t", "t", "C-c")
        tmux.wait_for("GOT-INT")
        assert not (tmp_path / "rc").exists(), "Ctrl-C must reach the remote, not end wsep"

        tmux("send-keys", "-t", "t", "q", "Enter")
        tmux.wait_for("PANE-DONE")
        assert (tmp_path / "rc").read_text().strip() == "5"
        assert (tmp_path / "after").read_text() == (tmp_path / "before").read_text()
        assert "-icanon" not in _stty(pane_tty, "-a")
    finally:
        tmux.kill()
