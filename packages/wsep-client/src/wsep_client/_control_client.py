"""``wsep run`` through a control master, and ``wsep control start|stop|status``.

The thin client: it connects to the master's Unix socket, hands over its
stdin/stdout/stderr (``SCM_RIGHTS``: the data never passes through this
process), forwards signals and terminal resizes as messages, and exits with
the status the master reports. Nothing heavy is imported here (no asyncio,
no aiohttp), which is what makes a call take milliseconds instead of the
quarter second that importing the SDK costs (see ``bench/cli_latency.py``).
"""

from __future__ import annotations

# The C modules: ``signal`` and ``socket`` build enums at import (~15 ms together).
import _signal  # type: ignore[import-not-found]
import _socket
import os
import sys
import time

from ._control_wire import (
    Decoder,
    UnsafeDirectory,
    receive,
    send,
    socket_path,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ._fast_args import RunArgs

__all__ = ["control_main", "run_through_master", "start_master"]

#: ``--control yes`` and ``wsep control start`` wait this long for a new master.
START_TIMEOUT = 30.0
#: Seconds an idle master stays (``WSEP_CONTROL_PERSIST``), as ssh's ControlPersist.
DEFAULT_PERSIST = 300.0
EXIT_CONNECT = 255


def _path(args: argparse.Namespace | RunArgs) -> str:
    return socket_path(str(args.url), args.token, args.cacert, args.insecure, args.v1)


def _connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:  # no master (yet), or a stale socket
        sock.close()
        return None
    return sock


def _say(text: str) -> None:
    sys.stderr.write(f"wsep: {text}\n")
    sys.stderr.flush()


def run_through_master(args: argparse.Namespace | RunArgs, mode: str) -> int | None:
    """Run through the master: the exit code, or None to run directly instead.

    ``auto`` starts a master for the next calls when there is none and runs
    this one directly; ``yes`` waits for the new master and uses it.
    """
    try:
        path = _path(args)
    except UnsafeDirectory as exc:
        _say(str(exc))
        return None
    except OSError as exc:
        _say(f"control directory: {exc.strerror or exc}; not using a control master")
        return None
    sock = _connect(path)
    if sock is None:
        start_master(args, path)
        if mode != "yes":
            return None
        sock = _wait_for_master(path)
        if sock is None:
            return None
    try:
        from ._run_request import request_fields

        request = request_fields(args)
        try:
            send(sock, {"op": "run", "request": request}, fds=(0, 1, 2))
        except OSError:
            return None  # the master went away before taking the command
        return _follow(sock, request)
    finally:
        sock.close()


def _follow(sock: _socket.socket, request: dict[str, object]) -> int:
    """Forward signals and resizes until the master reports the exit."""
    tty_mode = bool(request["tty"])

    def forward(signum: int, _frame: object) -> None:
        try:
            send(sock, {"signal": signum})
        except OSError:
            pass

    def resize(_signum: int, _frame: object) -> None:
        from ._tty import terminal_size

        try:
            send(sock, {"resize": list(terminal_size())})
        except OSError:
            pass

    previous = {}
    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        previous[signum] = _signal.signal(signum, forward)
    if tty_mode:
        previous[_signal.SIGWINCH] = _signal.signal(_signal.SIGWINCH, resize)
    try:
        if tty_mode and os.isatty(0):
            from ._tty import raw_mode

            with raw_mode(0):
                reply = _reply(sock)
        else:
            reply = _reply(sock)
    finally:
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
    if reply is None:
        _say("the control master went away before the command ended")
        return EXIT_CONNECT
    error = reply.get("error")
    if error:
        _say(" ".join(str(error).split()))
    code = reply.get("exit")
    return code if isinstance(code, int) else EXIT_CONNECT


def _reply(sock: _socket.socket) -> dict[str, object] | None:
    decoder = Decoder()
    try:
        while True:
            message = receive(sock, decoder)
            if message is None or "exit" in message:
                return message
    except (OSError, ValueError):
        return None


def start_master(args: argparse.Namespace | RunArgs, path: str) -> None:
    """Start a master for ``path`` in the background (it gives way if one is running)."""
    import json
    import subprocess

    persist = os.environ.get("WSEP_CONTROL_PERSIST") or str(DEFAULT_PERSIST)
    config = {
        "url": args.url,
        "token": args.token,
        "cacert": os.path.abspath(args.cacert) if args.cacert else None,
        "insecure": bool(args.insecure),
        "v1": bool(args.v1),
        "persist": float(persist),
    }
    env = dict(os.environ)
    env["WSEP_CONTROL_CONFIG"] = json.dumps(config)  # not argv: others can read that
    with open(path + ".log", "ab") as log:
        os.chmod(path + ".log", 0o600)
        subprocess.Popen(
            [sys.executable, "-m", "wsep_client._control_master", path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd="/",
            start_new_session=True,  # not in this terminal's process group: no Ctrl-C
        )


def _wait_for_master(path: str) -> _socket.socket | None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        time.sleep(0.01)  # a start-up poll of a local socket, not a data path
    _say(f"the control master did not start (see {path}.log); running directly")
    return None


def control_main(args: argparse.Namespace) -> int:
    """``wsep control status|start|stop``: exit 0 when a master runs (status, start)."""
    try:
        path = _path(args)
    except (UnsafeDirectory, OSError) as exc:
        _say(str(exc))
        return EXIT_CONNECT
    sock = _connect(path)
    if args.what == "start":
        if sock is None:
            start_master(args, path)
            sock = _wait_for_master(path)
            if sock is None:
                return EXIT_CONNECT
        args.what = "status"
    if sock is None:
        print(f"no control master for {args.url}")
        return 1
    try:
        send(sock, {"op": args.what})
        reply = receive(sock, Decoder())
    except (OSError, ValueError):
        reply = None
    finally:
        sock.close()
    if reply is None:
        _say("the control master did not answer")
        return EXIT_CONNECT
    if args.what == "stop":
        print(f"control master {reply.get('pid')} for {args.url} stopping")
    else:
        print(
            f"control master {reply.get('pid')} for {args.url}: {reply.get('running')} "
            f"running, {reply.get('served')} served, exits after {reply.get('persist')} s "
            f"idle; socket {path}"
        )
    return 0
