"""Enters and leaves the alternate screen on command: ``alt``, ``main``, ``exit``."""

import sys

out = sys.stdout
out.write("main line one\nmain line two\nmain> ")
out.flush()
for number, line in enumerate(sys.stdin):
    word = line.strip()
    if word == "alt":
        out.write(f"\x1b[?1049h\x1b[H\x1b[2J\x1b[1;1HALT SCREEN {number}")
        out.write("\x1b[3;5H\x1b[7mreverse\x1b[0m")
        out.write("\x1b[10;1Halt> ")
    elif word == "main":
        out.write("\x1b[?1049l")
        out.write(f"back {number}\nmain> ")
    elif word == "exit":
        sys.exit(3)
    out.flush()
