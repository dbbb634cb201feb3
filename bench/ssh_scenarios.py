"""The ssh side of each comparison, run from the harness against :class:`bench.sshd.Sshd`.

Throughput runs over a ControlPersist master per cipher (set up once, like the
WebSocket client that is already connected), so connection set-up is not
counted in a transfer; latency is measured both cold (a whole ``ssh host
true``: TCP, key exchange, authentication, session) and through a master.
sshd's CPU is its process tree's (the listener, the per-connection processes),
less what the remote command itself used (reported by the shell's ``times``).
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from .sshd import Sshd, times_seconds
from .stats import percentile

__all__ = ["CIPHERS", "ssh_cli_latency", "ssh_stdin", "ssh_stdout"]

#: Cipher label → ``ssh -c`` value (None: the client's and server's default). AES-256-GCM
#: is what TLS 1.3 negotiates between Python's defaults (the wss:// figures).
CIPHERS: dict[str, str | None] = {
    "default": None,
    "aes128-gcm": "aes128-gcm@openssh.com",
    "aes256-gcm": "aes256-gcm@openssh.com",
}
_BLOCK = 1 << 20


def _finish(proc: subprocess.Popen[bytes], what: str) -> tuple[bytes, float]:
    """Reap ``proc``: its stderr and its CPU seconds (the ssh client's)."""
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"ssh {what}: exit {proc.returncode}: {err.decode(errors='replace')}")
    return err, usage.ru_utime + usage.ru_stime


def ssh_stdout(sshd: Sshd, size: int, cipher: str) -> dict[str, Any]:
    """``head -c SIZE /dev/zero`` through ssh, counted on arrival."""
    argv = sshd.argv(f"head -c {size} /dev/zero; times >&2", cipher=CIPHERS[cipher], master=cipher)
    s0, t0 = sshd.tree_cpu(), time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    assert proc.stdout is not None
    buf, n = bytearray(_BLOCK), 0
    while got := proc.stdout.readinto(buf):  # type: ignore[attr-defined]
        n += got
    proc.stdout.close()
    err, client_cpu = _finish(proc, "stdout")
    seconds = time.perf_counter() - t0
    sshd.wait_commands_done()
    server_cpu = sshd.tree_cpu() - s0 - times_seconds(err)
    if n != size:
        raise RuntimeError(f"ssh stdout: got {n} bytes, expected {size}")
    return {"seconds": seconds, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu}


def ssh_stdin(sshd: Sshd, size: int, cipher: str) -> dict[str, Any]:
    """SIZE bytes into ``wc -c`` through ssh; the count is checked."""
    argv = sshd.argv("wc -c; times >&2", cipher=CIPHERS[cipher], master=cipher)
    block = bytes(_BLOCK)
    s0, t0 = sshd.tree_cpu(), time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    left = size
    view = memoryview(block)
    while left:
        left -= proc.stdin.write(view[: min(left, _BLOCK)])  # type: ignore[operator]
    proc.stdin.close()
    out = proc.stdout.read()
    proc.stdout.close()
    err, client_cpu = _finish(proc, "stdin")
    seconds = time.perf_counter() - t0
    sshd.wait_commands_done()
    server_cpu = sshd.tree_cpu() - s0 - times_seconds(err)
    if out.strip() != str(size).encode():
        raise RuntimeError(f"ssh stdin: wc counted {out!r}, expected {size}")
    return {"seconds": seconds, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu}


def ssh_cli_latency(sshd: Sshd, count: int, *, master: bool) -> dict[str, float]:
    """A whole ``ssh host true`` process: cold (new connection) or through a master."""
    argv = sshd.argv("true", master="latency" if master else None)
    if master:
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        samples.append((time.perf_counter() - t0) * 1000)
        if proc.returncode != 0:
            raise RuntimeError(f"ssh true: exit {proc.returncode}: {proc.stderr!r}")
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}
