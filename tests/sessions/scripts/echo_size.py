"""Prints a marker, then for every input line its text and the terminal size."""

import os
import sys

print("started", flush=True)
for line in sys.stdin:
    rows, cols = os.get_terminal_size(0).lines, os.get_terminal_size(0).columns
    print(f"echo:{line.strip()} size:{rows}x{cols}", flush=True)
    if line.strip() == "exit":
        sys.exit(7)
