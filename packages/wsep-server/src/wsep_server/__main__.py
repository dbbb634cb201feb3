"""``wsep-server`` / ``python -m wsep_server``: serve until SIGTERM or SIGINT.

On a signal: stop accepting, end running connections with close 1001 and a
reason, terminate and reap their processes, exit within the grace period.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .cli import Options, parse_args

if TYPE_CHECKING:
    import ssl

    from aiohttp import web
    from aiohttp.typedefs import Middleware

    from .local.containment import Containment
    from .metrics import Metrics

_log = logging.getLogger("wsep_server")


async def serve(opts: Options) -> None:
    from .security import tls_context

    # Files first: a broken certificate is reported before anything is set up.
    ssl_context = tls_context(opts.security, opts.tls_cert, opts.tls_key)
    containment = None
    if not opts.execer:
        from .local.containment import Containment as Contained

        containment = Contained.for_server(opts.cgroup)
    try:
        await _serve(opts, containment, ssl_context)
    finally:
        if containment is not None:
            containment.close()  # also when the start failed: no cgroup left behind


async def _serve(
    opts: Options, containment: Containment | None, ssl_context: ssl.SSLContext | None
) -> None:
    from aiohttp import web

    from . import systemd
    from .app import create_app, default_execer
    from .audit import on_sighup
    from .auth import ScrubbingAccessLogger
    from .config import ServerConfig
    from .connections import ConnectionGuard, GuardedRunner, raise_fd_limit
    from .loader import load_execer
    from .reload import Reloader
    from .security import build_security
    from .sessions import SessionConfig, SessionManager

    if opts.tune_malloc:
        from wsep_protocol.malloc import tune_malloc

        tune_malloc()
    config = ServerConfig(
        compress=opts.compress,
        max_receive_size=opts.max_message_size,
        heartbeat=opts.heartbeat,
        grace_period=opts.grace_period,
        exit_linger=opts.exit_linger,
    )
    systemd.take_environment()
    activated = systemd.listen_sockets()
    opts = _activated_options(opts, activated)
    metrics = _metrics(opts)
    raise_fd_limit()
    if containment is None:
        execer = load_execer(opts.execer or "")
    else:
        token_env = (opts.security.token_env,) if opts.security.token_env else ()
        execer = default_execer(
            config, scrub_env=(*opts.scrub_env, *token_env), containment=containment
        )
    sec = build_security(opts.security, execer, host=opts.host, unix_socket=opts.unix_socket)
    served = sec.execer if sec.execer is not None else execer
    guard = ConnectionGuard(
        max_total=opts.security.max_pending_connections,
        max_per_peer=opts.security.max_pending_per_peer,
    )
    sessions = SessionManager(
        served,
        SessionConfig(
            timeout=opts.session_timeout,
            max_sessions_per_identity=opts.security.max_sessions_per_identity,
        ),
    )
    app = create_app(
        session_manager=sessions,
        execer=served,
        path=opts.path,
        config=config,
        policy=sec.policy,
        observers=[*sec.observers, *([metrics] if metrics is not None else [])],
        middlewares=[
            *_service_middlewares(opts, metrics),
            *sec.middlewares,
            guard.middleware(authenticated=sec.authenticated),
        ],
    )
    sec.install(app)
    if opts.web:
        from .web import add_web_routes

        add_web_routes(app, wsep_path=opts.path, options=opts.web_options)
    runner = GuardedRunner(
        app,
        guard=guard,
        handle_signals=False,
        shutdown_timeout=opts.grace_period,
        access_log=None,
        access_log_class=ScrubbingAccessLogger,
        # aiohttp's default lets a request take over an hour to arrive (slow clients).
        keepalive_timeout=opts.header_timeout,
    )
    await runner.setup()
    sites: list[web.BaseSite] = []
    if activated:
        sites = [web.SockSite(runner, sock, ssl_context=ssl_context) for sock in activated]
    elif opts.unix_socket:
        check_unix_socket_path(opts.unix_socket)
        sites = [web.UnixSite(runner, opts.unix_socket, ssl_context=ssl_context)]
    else:
        sites = [web.TCPSite(runner, opts.host, opts.port, ssl_context=ssl_context)]
    for site in sites:
        await site.start()
    reloader = Reloader(
        opts.security, sec, ssl_context=ssl_context, tls_cert=opts.tls_cert, tls_key=opts.tls_key
    )
    if metrics is not None:
        metrics.reload_counts = lambda: (reloader.reloads, reloader.refusals)
    metrics_runner = await _start_metrics(opts, metrics)
    loop = asyncio.get_running_loop()
    unregister_reload = on_sighup(reloader.on_hangup, loop)
    banner = _banner(opts, runner.addresses, sec.generated_token)
    print(banner, flush=True)
    systemd.notify("READY=1", "STATUS=" + banner.splitlines()[0], f"MAINPID={os.getpid()}")
    interval = systemd.watchdog_interval()
    watchdog = asyncio.ensure_future(systemd.watchdog_pinger(interval)) if interval else None

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        _log.info("signal received: shutting down (grace period %g s)", opts.grace_period)
        systemd.notify("STOPPING=1", "STATUS=shutting down")
    finally:
        unregister_reload()
        if watchdog is not None:
            watchdog.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        try:
            await asyncio.wait_for(runner.cleanup(), opts.grace_period + 2.0)
        except asyncio.TimeoutError:
            _log.warning("shutdown took longer than the grace period")


def _activated_options(opts: Options, activated: list[socket.socket]) -> Options:
    """With sockets from systemd, the listen address is theirs (for the safety check)."""
    if not activated:
        return opts
    name = activated[0].getsockname()
    if activated[0].family == socket.AF_UNIX:
        return dataclasses.replace(opts, unix_socket=str(name) or "(socket activation)")
    return dataclasses.replace(opts, host=str(name[0]), port=int(name[1]), unix_socket=None)


def _metrics(opts: Options) -> Metrics | None:
    if opts.service.metrics_listen is None:
        return None
    from .metrics import Metrics, require_prometheus

    require_prometheus()
    return Metrics()


def _service_middlewares(opts: Options, metrics: Metrics | None) -> list[Middleware]:
    """Run before authentication: metrics see every refusal, logs the proxied address."""
    found: list[Middleware] = []
    if metrics is not None:
        found.append(metrics.middleware())
    if opts.service.forwarded_from:
        from .client_address import forwarded_address_middleware

        found.append(
            forwarded_address_middleware(opts.service.forwarded_from, opts.service.forwarded_header)
        )
    return found


async def _start_metrics(opts: Options, metrics: Metrics | None) -> web.AppRunner | None:
    if metrics is None or opts.service.metrics_listen is None:
        return None
    from aiohttp import web

    from .metrics import metrics_app

    host, port = opts.service.metrics_listen
    runner = web.AppRunner(metrics_app(metrics, opts.service.metrics_path), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = next((a for a in runner.addresses if isinstance(a, tuple)), (host, port))
    shown = f"[{host}]" if ":" in host else host
    _log.info("serving metrics on http://%s:%d%s", shown, bound[1], opts.service.metrics_path)
    return runner


def _banner(opts: Options, addresses: Sequence[object], token: str | None = None) -> str:
    """The first line names the URL (scripts read it); then commands to paste.

    A generated token is shown as ``--token=...``: it may begin with ``-``.
    """
    scheme = "wss" if opts.tls_cert else "ws"
    if opts.unix_socket:
        return f"wsep-server: serving {scheme}+unix://{opts.unix_socket}{opts.path}"
    port = opts.port
    for address in addresses:  # where the server listens (port 0: the one it was given)
        if isinstance(address, tuple) and len(address) >= 2:
            port = int(address[1])
            break
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    http = "https" if opts.tls_cert else "http"
    url = f"{scheme}://{host}:{port}{opts.path}"
    wsep = _client_command()
    lines = [
        f"wsep-server: serving {url}",
        f"  health check: curl {http}://{host}:{port}/healthz",
    ]
    if token is not None:
        lines.append(f"  run a command: {wsep} run --url {url} --token={token} -- echo hello")
        lines.append("  (a token made for this run; set WSEP_TOKEN or --token-file to choose one)")
        if opts.web:
            lines.append(f"  web terminal: {http}://{host}:{port}/?token={token}")
    else:
        lines.append(f"  run a command: {wsep} run --url {url} -- echo hello")
    return "\n".join(lines)


def _client_command() -> str:
    """``wsep`` if that is the client next to this Python, else that client's path."""
    sibling = os.path.join(os.path.dirname(sys.executable), "wsep")
    if not os.path.exists(sibling):
        return "wsep"
    found = shutil.which("wsep")
    if found is not None and os.path.samefile(found, sibling):
        return "wsep"
    relative = os.path.relpath(sibling)
    return shlex.quote(relative if not relative.startswith("..") else sibling)


# sun_path is 108 bytes on Linux, one of them the terminating NUL.
_UNIX_PATH_MAX = 107


def check_unix_socket_path(path: str) -> None:
    """Refuse a path the kernel would truncate or refuse, naming it and the limit."""
    length = len(os.fsencode(path))
    if length > _UNIX_PATH_MAX:
        raise ValueError(
            f"--unix-socket {path}: the path is {length} bytes long; "
            f"a Unix socket path may have at most {_UNIX_PATH_MAX} (use a shorter directory)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.service.check_config:
        from .check import check_config

        problems = check_config(opts)
        for problem in problems:
            print(f"wsep-server: {problem}", file=sys.stderr)
        if not problems:
            print("wsep-server: configuration OK")
        return 1 if problems else 0
    from .logs import configure_logging

    configure_logging(opts.log_level, opts.log_format)  # scrubbed: no token, no forged line
    try:
        asyncio.run(serve(opts))
    except KeyboardInterrupt:  # pragma: no cover - a second ^C
        return 130
    except (OSError, ValueError, ImportError, TypeError) as exc:
        print(f"wsep-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
