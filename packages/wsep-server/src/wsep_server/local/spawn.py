"""Turning a ``Command`` into a running child: checks, path lookup, fork/exec.

Everything that can be checked before forking is checked here so the client
gets a precise reason (``StartError.kind``); what can only fail in the child
(``chdir``/``execve`` as another user) is reported back by ``subprocess``'s
CLOEXEC error pipe and mapped to the same kinds.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import subprocess
import termios
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wsep_protocol import CloseCode, Command, StartError, StartErrorKind

from . import pspawn
from .access import Viewer
from .environ import scrub

__all__ = [
    "Credentials",
    "Launch",
    "build_env",
    "check_credentials",
    "resolve",
    "spawn",
    "spawn_tty",
]

#: ``(uid_t)-1`` means "unchanged" to the kernel, so the largest usable id is one less.
_MAX_ID = 2**32 - 2

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The ids to switch to (``None``: keep the server's)."""

    uid: int | None = None
    gid: int | None = None


@dataclass(frozen=True, slots=True)
class Launch:
    """A child to start, all checked before anything is spawned: the command, its
    resolved executable and working directory, its environment and its user."""

    command: Command
    executable: str
    cwd: str
    env: Mapping[str, str]
    creds: Credentials


def _fail(kind: StartErrorKind, message: str, code: CloseCode | None = None) -> StartError:
    return StartError(message, kind=kind, close_code=code)


def working_dir(command: Command) -> str:
    """The directory the child starts in (the server's when not given)."""
    return command.working_dir or os.getcwd()


def _viewer(command: Command) -> Viewer | None:
    """Whose view of the file system the checks take: the run-as user's when switching."""
    try:
        creds = check_credentials(command)
    except StartError:
        return None
    return Viewer.for_ids(creds.uid, creds.gid)


def check_working_dir(command: Command) -> str:
    cwd = working_dir(command)
    viewer = _viewer(command)
    if viewer is not None and not viewer.can_search(os.path.dirname(os.path.abspath(cwd))):
        # The user could not even look: the same answer whether it exists or not.
        raise _fail(
            StartErrorKind.PERMISSION_DENIED, f"working directory {cwd!r}: permission denied"
        )
    try:
        st = os.stat(cwd)
    except FileNotFoundError:
        raise _fail(
            StartErrorKind.NO_SUCH_DIRECTORY, f"working directory {cwd!r} does not exist"
        ) from None
    except PermissionError:
        raise _fail(
            StartErrorKind.PERMISSION_DENIED, f"working directory {cwd!r}: permission denied"
        ) from None
    except (OSError, ValueError) as exc:
        raise _fail(
            StartErrorKind.NO_SUCH_DIRECTORY, f"working directory {cwd!r}: {_why(exc)}"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise _fail(
            StartErrorKind.NO_SUCH_DIRECTORY, f"working directory {cwd!r} is not a directory"
        )
    return cwd


def resolve(command: Command, path: str | None = None) -> str:
    """The absolute path that would run: the server's PATH (``path``), never ``command.env``'s.

    A name with a slash is taken as given, relative to the working directory. Relative
    PATH entries are skipped (as Go 1.19+ refuses them). Everything is looked at as the
    user the command runs as: what that user cannot see is "not found".
    """
    name = command.command
    if not name:
        raise _fail(StartErrorKind.INVALID_COMMAND, "empty command")
    if "\0" in name:
        raise _fail(StartErrorKind.INVALID_COMMAND, "command contains a NUL byte")
    viewer = _viewer(command)
    if "/" in name:
        full = os.path.normpath(os.path.join(working_dir(command), name))
        if viewer is not None and not viewer.can_see(full):
            raise _fail(StartErrorKind.COMMAND_NOT_FOUND, f"{name}: no such file")
        _check_executable(full, name, viewer)
        return full
    search = os.environ.get("PATH", os.defpath) if path is None else path
    denied: str | None = None
    for entry in search.split(os.pathsep):
        if not os.path.isabs(entry):
            continue  # "" or "." in PATH would run whatever the working directory holds
        if viewer is not None and not viewer.can_search(entry):
            continue
        candidate = os.path.join(entry, name)
        try:
            st = os.stat(candidate)
        except (OSError, ValueError):
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        if not _may_execute(candidate, st, viewer):
            denied = denied or candidate
            continue
        return os.path.normpath(candidate)
    if denied is not None:
        raise _fail(
            StartErrorKind.PERMISSION_DENIED,
            f"{name}: {denied} is not executable (permission denied)",
        )
    raise _fail(StartErrorKind.COMMAND_NOT_FOUND, f"{name}: executable file not found in $PATH")


def _may_execute(path: str, st: os.stat_result, viewer: Viewer | None) -> bool:
    if viewer is not None:
        return viewer.may_execute(st)
    return bool(st.st_mode & 0o111) and os.access(path, os.X_OK)


def _check_executable(full: str, name: str, viewer: Viewer | None = None) -> None:
    try:
        st = os.stat(full)
    except FileNotFoundError:
        raise _fail(StartErrorKind.COMMAND_NOT_FOUND, f"{name}: no such file") from None
    except NotADirectoryError:
        raise _fail(StartErrorKind.COMMAND_NOT_FOUND, f"{name}: not a directory") from None
    except PermissionError:
        raise _fail(StartErrorKind.PERMISSION_DENIED, f"{name}: permission denied") from None
    except OSError as exc:
        raise _fail(StartErrorKind.OTHER, f"{name}: {_why(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(StartErrorKind.PERMISSION_DENIED, f"{name}: is a directory")
    if not _may_execute(full, st, viewer):
        raise _fail(StartErrorKind.PERMISSION_DENIED, f"{name}: permission denied (not executable)")


def check_credentials(command: Command) -> Credentials:
    """Which ids to switch to; refuses what this server may not do (close code 1008)."""
    for label, value in (("uid", command.uid), ("gid", command.gid)):
        if not 0 <= value <= _MAX_ID:
            raise _fail(StartErrorKind.INVALID_COMMAND, f"invalid {label} {value}")
    if command.uid == 0 and command.gid == 0:
        return Credentials()
    uid = command.uid or None
    gid = command.gid or None
    if uid is not None and gid is None:
        # Never leave a switched user in the server's (root) group: use its primary group.
        gid = _primary_gid(uid)
    if os.geteuid() == 0:
        return Credentials(uid, gid)
    if uid in (None, os.getuid(), os.geteuid()) and gid in (None, os.getgid(), os.getegid()):
        return Credentials()
    raise _fail(
        StartErrorKind.USER_SWITCH_DENIED,
        f"cannot switch to uid {command.uid} gid {command.gid}: the server does not run as root",
        CloseCode.POLICY_VIOLATION,
    )


def _primary_gid(uid: int) -> int:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        raise _fail(
            StartErrorKind.INVALID_COMMAND,
            f"uid {uid} has no passwd entry: give a gid as well",
        ) from None


def build_env(command: Command, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: the server's environment without ``WSEP_*``) plus the command's
    ``KEY=VALUE`` entries (and ``WSEP_TTY``)."""
    env = dict(scrub(os.environ) if base is None else base)
    for entry in command.env:
        key, sep, value = entry.partition("=")
        if not sep or not key or "\0" in entry:
            raise _fail(StartErrorKind.INVALID_COMMAND, f"invalid environment entry {entry[:64]!r}")
        env[key] = value
    if command.tty:
        env["WSEP_TTY"] = "true"
    return env


def set_pipe_size(fd: int, size: int) -> None:
    """Grow the pipe behind ``fd`` (fewer wake-ups, larger reads); silently keep it if refused."""
    if size <= 0:
        return
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError:
        pass


def spawn(
    launch: Launch, stdin: int | None, stdout: int, stderr: int
) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start a pipe child in a new session: ``(pid, popen)``, ``popen`` ``None`` when
    ``posix_spawn`` did it; ``stdin=None`` is ``/dev/null``. Exec failures are
    raised here as ``StartError``."""
    if (
        launch.creds.uid is None
        and launch.creds.gid is None
        and pspawn.available()
        and min(stdout, stderr, 3 if stdin is None else stdin) >= 3
    ):
        try:
            pid = pspawn.spawn_pipes(
                launch.executable,
                launch.command.argv,
                launch.cwd,
                launch.env,
                stdin,
                stdout,
                stderr,
            )
        except (OSError, ValueError) as exc:
            raise start_error(exc, launch.command, launch.cwd) from None
        return pid, None
    popen = _popen(launch, subprocess.DEVNULL if stdin is None else stdin, stdout, stderr)
    return popen.pid, popen


def spawn_tty(launch: Launch, slave: int) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start a TTY child: ``(pid, popen)``; ``popen`` is ``None`` when ``posix_spawn`` did it.

    ``posix_spawn`` cannot switch users, so that case takes ``subprocess``'s fork.
    """
    creds = launch.creds
    if creds.uid is None and creds.gid is None and pspawn.available():
        try:
            pid = pspawn.spawn_tty(
                launch.executable, launch.command.argv, launch.cwd, launch.env, os.ttyname(slave)
            )
        except (OSError, ValueError) as exc:
            raise start_error(exc, launch.command, launch.cwd) from None
        return pid, None
    popen = _popen(launch, slave, slave, slave)
    return popen.pid, popen


def _popen(launch: Launch, stdin: int, stdout: int, stderr: int) -> subprocess.Popen[bytes]:
    """``subprocess``'s fork and exec: switching users, or where ``posix_spawn`` is missing."""
    creds = launch.creds
    kwargs: dict[str, object] = {}
    if creds.uid is not None or creds.gid is not None:
        kwargs["extra_groups"] = []
        if creds.uid is not None:
            kwargs["user"] = creds.uid
        if creds.gid is not None:
            kwargs["group"] = creds.gid
    try:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            list(launch.command.argv),
            executable=launch.executable,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=launch.cwd,
            env=launch.env,
            start_new_session=True,
            close_fds=True,
            preexec_fn=_preexec(tty=launch.command.tty),
            **kwargs,
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise start_error(exc, launch.command, launch.cwd) from None


#: What ``restore_signals`` leaves alone: SIGKILL/SIGSTOP cannot change, SIGPIPE and
#: SIGXFSZ it resets itself.
_RESTORED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ}


def _preexec(*, tty: bool) -> Callable[[], None] | None:
    """What the forked child must do before exec, or ``None`` (keeps ``vfork`` fast).

    exec keeps ignored signals ignored and the signal mask: a server started by
    ``nohup`` or as a background job must not pass that on to its commands.
    """
    ignored = tuple(
        s
        for s in signal.valid_signals()
        if s not in _RESTORED and signal.getsignal(s) is signal.SIG_IGN
    )
    blocked = bool(signal.pthread_sigmask(signal.SIG_BLOCK, ()))
    if not (tty or ignored or blocked):
        return None

    def child() -> None:  # pragma: no cover - runs in the child between fork and exec
        # Nothing to import here: the child of a multi-threaded parent must not take locks.
        for signum in ignored:
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if tty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return child


def start_error(exc: BaseException, command: Command, cwd: str) -> StartError:
    """The ``StartError`` for what fork/exec raised (the child's errno, passed back)."""
    if isinstance(exc, FileNotFoundError):
        if exc.filename == cwd:
            return _fail(
                StartErrorKind.NO_SUCH_DIRECTORY, f"working directory {cwd!r} does not exist"
            )
        return _fail(
            StartErrorKind.COMMAND_NOT_FOUND,
            f"{command.command}: {_why(exc)} (is its interpreter missing?)",
        )
    if isinstance(exc, PermissionError):
        what = f"working directory {cwd!r}" if exc.filename == cwd else command.command
        return _fail(StartErrorKind.PERMISSION_DENIED, f"{what}: permission denied")
    if isinstance(exc, NotADirectoryError):
        return _fail(StartErrorKind.NO_SUCH_DIRECTORY, f"{exc.filename}: not a directory")
    if isinstance(exc, ValueError):
        return _fail(StartErrorKind.INVALID_COMMAND, f"invalid command: {exc}")
    if isinstance(exc, OSError) and exc.errno == errno.ENOEXEC:
        return _fail(StartErrorKind.PERMISSION_DENIED, f"{command.command}: exec format error")
    return _fail(StartErrorKind.OTHER, f"{command.command}: {_why(exc)}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
