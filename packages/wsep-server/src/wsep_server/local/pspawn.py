"""Starting children with glibc ``posix_spawn`` (no fork of the server, no Python in the child).

``subprocess`` can make a terminal the controlling one only with a
``preexec_fn``, which forces a real ``fork()`` of the whole server: measured
2–5 ms with a small heap and 13–19 ms with a 200 MiB heap, with the event
loop blocked all along. ``posix_spawn`` (glibc's ``clone(CLONE_VFORK)``)
takes ≈ 0.2 ms. It creates the new session first and then runs the file
actions, so opening the PTY slave by name (without ``O_NOCTTY``) makes it the
child's controlling terminal, exactly what ``TIOCSCTTY`` would do. glibc
reports a failed ``chdir``/``execve`` to the parent as the return value.

Pipe children take this path too, for a reason ``subprocess`` cannot serve:
exec keeps ignored signals ignored, and ``subprocess`` restores only SIGPIPE
and SIGXFSZ. A server started by ``nohup`` or as a shell's background job
would hand its commands an ignored SIGHUP or SIGINT (Ctrl-C that does
nothing); here every disposition is reset to the default and nothing is blocked.

Python's ``os.posix_spawn`` has no ``chdir`` action, hence ctypes. Everything
is looked up once; where anything is missing (not glibc, glibc < 2.29),
:func:`available` is false and the caller uses ``subprocess`` instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["available", "spawn_pipes", "spawn_tty"]

# <spawn.h> flags (glibc).
_SETSIGDEF = 0x04
_SETSIGMASK = 0x08
_SETSID = 0x80
# Opaque glibc types, over-allocated (80, 336 and 128 bytes on x86-64 glibc 2.36).
_FA_SIZE = 512
_ATTR_SIZE = 1024
_SIGSET_SIZE = 256


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p

        def fn(name: str, *argtypes: Any) -> Any:
            f = getattr(libc, name)
            f.argtypes = list(argtypes)
            f.restype = ctypes.c_int
            return f

        self.fa_init = fn("posix_spawn_file_actions_init", p)
        self.fa_destroy = fn("posix_spawn_file_actions_destroy", p)
        self.fa_open = fn("posix_spawn_file_actions_addopen", p, i, c, i, ctypes.c_uint)
        self.fa_dup2 = fn("posix_spawn_file_actions_adddup2", p, i, i)
        self.fa_chdir = fn("posix_spawn_file_actions_addchdir_np", p, c)
        try:
            self.fa_closefrom: Any = fn("posix_spawn_file_actions_addclosefrom_np", p, i)
        except AttributeError:  # glibc < 2.34: our fds are CLOEXEC anyway
            self.fa_closefrom = None
        self.attr_init = fn("posix_spawnattr_init", p)
        self.attr_destroy = fn("posix_spawnattr_destroy", p)
        self.attr_setflags = fn("posix_spawnattr_setflags", p, ctypes.c_short)
        self.attr_setsigmask = fn("posix_spawnattr_setsigmask", p, p)
        self.attr_setsigdefault = fn("posix_spawnattr_setsigdefault", p, p)
        self.sigemptyset = fn("sigemptyset", p)
        self.sigfillset = fn("sigfillset", p)
        strings = ctypes.POINTER(c)
        self.posix_spawn = fn("posix_spawn", ctypes.POINTER(i), c, p, p, strings, strings)


_libc: _Libc | None = None
_checked = False


def available() -> bool:
    """True where glibc's ``posix_spawn`` with ``addchdir_np`` can be used."""
    global _libc, _checked
    if not _checked:
        _checked = True
        try:
            _libc = _Libc()
        except (OSError, AttributeError):
            _libc = None
    return _libc is not None


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(result, f"{what}: {os.strerror(result)}")


def _cstrings(items: Sequence[str]) -> ctypes.Array[ctypes.c_char_p]:
    encoded = [os.fsencode(item) for item in items]
    for item in encoded:
        if b"\0" in item:
            raise ValueError("embedded null byte")
    array = (ctypes.c_char_p * (len(encoded) + 1))(*encoded, None)
    return array


def spawn_tty(
    executable: str, argv: Sequence[str], cwd: str, env: Mapping[str, str], slave_path: str
) -> int:
    """Start ``argv`` in a new session with ``slave_path`` as stdin/stdout/stderr and
    controlling terminal; returns the pid. Raises ``OSError`` (from the child's
    ``chdir``/``execve`` too) or ``ValueError`` (NUL bytes)."""
    path = os.fsencode(slave_path)

    def actions(libc: _Libc, fa: Any) -> None:
        _check(libc.fa_open(fa, 0, path, os.O_RDWR, 0), "addopen")
        _check(libc.fa_dup2(fa, 0, 1), "adddup2")
        _check(libc.fa_dup2(fa, 0, 2), "adddup2")

    return _spawn(executable, argv, cwd, env, actions)


def spawn_pipes(
    executable: str,
    argv: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    stdin: int | None,
    stdout: int,
    stderr: int,
) -> int:
    """Start ``argv`` in a new session (no terminal) on these fds; ``stdin=None`` is
    ``/dev/null``. The fds must be 3 or above, so no dup2 clobbers another."""
    if min(stdout, stderr, 3 if stdin is None else stdin) < 3:
        raise ValueError("spawn_pipes needs fds >= 3")

    def actions(libc: _Libc, fa: Any) -> None:
        if stdin is None:
            _check(libc.fa_open(fa, 0, b"/dev/null", os.O_RDONLY, 0), "addopen")
        else:
            _check(libc.fa_dup2(fa, stdin, 0), "adddup2")
        _check(libc.fa_dup2(fa, stdout, 1), "adddup2")
        _check(libc.fa_dup2(fa, stderr, 2), "adddup2")

    return _spawn(executable, argv, cwd, env, actions)


def _spawn(
    executable: str,
    argv: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    fd_actions: Callable[[_Libc, Any], None],
) -> int:
    if not available():
        raise RuntimeError("posix_spawn is not available")
    libc = _libc
    assert libc is not None
    c_argv = _cstrings(argv)
    c_env = _cstrings([f"{k}={v}" for k, v in env.items()])
    fa = ctypes.create_string_buffer(_FA_SIZE)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    sigdef = ctypes.create_string_buffer(_SIGSET_SIZE)
    sigmask = ctypes.create_string_buffer(_SIGSET_SIZE)
    _check(libc.fa_init(fa), "posix_spawn_file_actions_init")
    try:
        _check(libc.attr_init(attr), "posix_spawnattr_init")
        try:
            # Order in the child: setsid, signals, then these actions, then execve.
            _check(libc.fa_chdir(fa, os.fsencode(cwd)), "addchdir")
            fd_actions(libc, fa)
            if libc.fa_closefrom is not None:
                _check(libc.fa_closefrom(fa, 3), "addclosefrom")
            # A clean slate: default dispositions (the server ignores SIGPIPE, and a
            # server started by nohup or as a background job ignores SIGHUP or
            # SIGINT/SIGQUIT, which exec would pass on), nothing blocked.
            libc.sigfillset(sigdef)
            # sigfillset leaves out glibc's own signals 32 and 33, which glibc's spawn
            # child then sets to SIG_IGN, and exec would keep them ignored: name them too.
            ctypes.memset(sigdef, 0xFF, 8)
            libc.sigemptyset(sigmask)
            _check(libc.attr_setsigdefault(attr, sigdef), "setsigdefault")
            _check(libc.attr_setsigmask(attr, sigmask), "setsigmask")
            _check(libc.attr_setflags(attr, _SETSID | _SETSIGDEF | _SETSIGMASK), "setflags")
            pid = ctypes.c_int(0)
            err = libc.posix_spawn(
                ctypes.byref(pid), os.fsencode(executable), fa, attr, c_argv, c_env
            )
            if err != 0:
                raise OSError(err, os.strerror(err), executable)
            return pid.value
        finally:
            libc.attr_destroy(attr)
    finally:
        libc.fa_destroy(fa)
