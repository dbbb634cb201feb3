"""Writes hex-encoded input to the terminal as raw bytes, then a marker.

Input lines (at most a PTY line each) hold hex; a line ``.`` writes what came
before it; ``exit`` ends with status 4.
"""

import sys

out = sys.stdout.buffer
out.write(b"writer-ready\n")
out.flush()
pending = []
number = 0
for line in sys.stdin:
    word = line.strip()
    if word == "exit":
        sys.exit(4)
    if word != ".":
        pending.append(word)
        continue
    out.write(bytes.fromhex("".join(pending)))
    out.write(b"\x18\x1b\\\x1b[0mwritten-%d.\n" % number)  # CAN and ST end any string
    out.flush()
    pending.clear()
    number += 1
