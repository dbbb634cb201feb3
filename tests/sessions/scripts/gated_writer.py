"""Writes N pseudo-random bytes to stdout (and a little to stderr), pausing at a FIFO.

Usage: gated_writer.py TOTAL GATE_AT FIFO
Writes GATE_AT bytes, then blocks opening FIFO until someone writes a line to
it, then writes the rest. The bytes are a deterministic function of the offset.
"""

import hashlib
import sys

total, gate_at, fifo = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# 1 MiB without a shorter period; byte k of the output is block[k % len(block)].
block = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(32768))
out = sys.stdout.buffer
sys.stderr.write("stderr-begin\n")
sys.stderr.flush()
written = 0
gated = False
while written < total:
    if not gated and written >= gate_at:
        with open(fifo) as f:
            f.readline()
        gated = True
    at = written % len(block)
    n = min(65536, len(block) - at, total - written, (gate_at - written) if not gated else total)
    out.write(block[at : at + n])
    out.flush()
    written += n
sys.stderr.write("stderr-end\n")
sys.exit(3)
