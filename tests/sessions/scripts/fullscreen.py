"""A full-screen program: alternate screen, a drawing, terminal queries; then echoes lines."""

import sys

out = sys.stdout
out.write("before the app\r\n")
out.write("\x1b[?1049h\x1b[2J\x1b[H")
out.write("\x1b[1;1H\x1b[1;33mFULL SCREEN TITLE\x1b[0m")
out.write("\x1b[5;10H\x1b[44mboxed\x1b[0m")
out.write("\x1b[c\x1b[6n")  # device attributes and cursor position queries
out.write("\x1b[10;1Hready>")
out.flush()
for line in sys.stdin:
    out.write("\x1b[12;1Hgot: " + line.strip() + "\x1b[K")
    out.flush()
    if line.strip() == "quit":
        out.write("\x1b[?1049l")
        out.flush()
        break
