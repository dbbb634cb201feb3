"""Process measurements from /proc (RSS, peak RSS, CPU time) and resource limits."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import socket

__all__ = [
    "cpu_seconds",
    "free_port",
    "raise_nofile",
    "reset_peak_rss",
    "rss_mib",
    "status_kib",
    "tree_pids",
    "tune_malloc",
]

_TICKS = os.sysconf("SC_CLK_TCK")


def status_kib(pid: int | str, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (``VmRSS``, ``VmHWM``); 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def rss_mib(pid: int | str = "self", key: str = "VmRSS") -> float:
    return status_kib(pid, key) / 1024.0


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset VmHWM to the current RSS (``clear_refs`` 5); False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of one process (not its children) from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def raise_nofile(wanted: int | None = None) -> int:
    """Raise the soft RLIMIT_NOFILE (to the hard limit by default); children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if wanted is None else min(max(wanted, soft), hard)
    if hard == resource.RLIM_INFINITY and wanted is None:
        new = max(soft, 1 << 20)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tune_malloc(mmap_threshold: int = 4 << 20, trim_threshold: int = 16 << 20) -> bool:
    """glibc: keep buffers below ``mmap_threshold`` in the heap (no page faults per message).

    The same tuning ``wsep-server`` applies by default (``--tune-malloc``).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = bool(mallopt(m_mmap_threshold, mmap_threshold) == 1)
    return bool(mallopt(m_trim_threshold, trim_threshold) == 1) and ok
