"""Emits every string capability of xterm-256color (as infocmp lists them), one by one."""

import curses
import subprocess
import sys

out = sys.stdout.buffer
curses.setupterm("xterm-256color", sys.stdout.fileno())
listing = subprocess.run(
    ["infocmp", "-1", "-x", "xterm-256color"], capture_output=True, text=True, check=True
).stdout
for line in listing.splitlines():
    if not line.startswith("\t") or "=" not in line:
        continue
    name = line.strip().split("=", 1)[0]
    value = curses.tigetstr(name)
    if not value:
        continue
    if b"%s" not in value and b"%l" not in value:  # string parameters: sent unexpanded
        try:
            value = curses.tparm(value, 1, 2, 3, 4, 5, 6, 7, 8, 9)
        except curses.error:
            pass
    out.write(name.encode() + b":" + value + b"\r\n")
    out.flush()
out.write(b"\x1b[0m\x1b[?1049l\x1bccapabilities-done\r\n")
out.flush()
