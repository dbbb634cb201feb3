"""``wsep-server`` / ``python -m wsep_server``: serve until SIGTERM or SIGINT.

On a signal: stop accepting, end running sessions with close 1001 and a
reason, terminate and reap their processes, exit within the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .cli import Options, parse_args

if TYPE_CHECKING:
    from .local.containment import Containment

_log = logging.getLogger("wsep_server")


async def serve(opts: Options) -> None:
    containment = None
    if not opts.execer:
        from .local.containment import Containment as Contained

        containment = Contained.for_server(opts.cgroup)
    try:
        await _serve(opts, containment)
    finally:
        if containment is not None:
            containment.close()  # also when the start failed: no cgroup left behind


async def _serve(opts: Options, containment: Containment | None) -> None:
    from aiohttp import web

    from .app import create_app, default_execer
    from .auth import ScrubbingAccessLogger
    from .config import ServerConfig
    from .loader import load_execer
    from .security import build_security, tls_context
    from .sessions import SessionConfig, SessionManager

    if opts.tune_malloc:
        try:
            from .local.malloc import tune_malloc
        except ImportError:  # pragma: no cover - an execer-less install
            pass
        else:
            tune_malloc()
    config = ServerConfig(
        compress=opts.compress,
        max_receive_size=opts.max_message_size,
        heartbeat=opts.heartbeat,
        grace_period=opts.grace_period,
        exit_linger=opts.exit_linger,
    )
    if containment is None:
        execer = load_execer(opts.execer or "")
    else:
        token_env = (opts.security.token_env,) if opts.security.token_env else ()
        execer = default_execer(
            config, scrub_env=(*opts.scrub_env, *token_env), containment=containment
        )
    sec = build_security(opts.security, execer, host=opts.host, unix_socket=opts.unix_socket)
    served = sec.execer if sec.execer is not None else execer
    sessions = SessionManager(served, SessionConfig(timeout=opts.session_timeout))
    app = create_app(
        session_manager=sessions,
        execer=served,
        path=opts.path,
        config=config,
        policy=sec.policy,
        observers=sec.observers,
        middlewares=sec.middlewares,
    )
    sec.install(app)
    if opts.web:
        from .web import add_web_routes

        add_web_routes(app, wsep_path=opts.path)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=opts.grace_period,
        access_log=None,
        access_log_class=ScrubbingAccessLogger,
        # aiohttp's default lets a request take over an hour to arrive (slow clients).
        keepalive_timeout=opts.header_timeout,
    )
    await runner.setup()
    ssl_context = tls_context(opts.security, opts.tls_cert, opts.tls_key)
    site: web.BaseSite
    if opts.unix_socket:
        site = web.UnixSite(runner, opts.unix_socket, ssl_context=ssl_context)
    else:
        site = web.TCPSite(runner, opts.host, opts.port, ssl_context=ssl_context)
    await site.start()
    print(_banner(opts, runner), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        _log.info("signal received: shutting down (grace period %g s)", opts.grace_period)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        try:
            await asyncio.wait_for(runner.cleanup(), opts.grace_period + 2.0)
        except asyncio.TimeoutError:
            _log.warning("shutdown took longer than the grace period")


def _banner(opts: Options, runner: object) -> str:
    scheme = "wss" if opts.tls_cert else "ws"
    if opts.unix_socket:
        return f"wsep-server: serving {scheme}+unix://{opts.unix_socket}{opts.path}"
    port = opts.port
    for address in getattr(runner, "addresses", []):
        if isinstance(address, tuple) and len(address) >= 2:
            port = int(address[1])
            break
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    http = "https" if opts.tls_cert else "http"
    return (
        f"wsep-server: serving {scheme}://{host}:{port}{opts.path}\n"
        f"  health check: curl {http}://{host}:{port}/healthz\n"
        f"  run a command: wsep run --url {scheme}://{host}:{port}{opts.path} -- echo hello"
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    from .logs import configure_logging

    configure_logging(opts.log_level, opts.log_format)
    from .auth import install_scrub_filter

    install_scrub_filter()  # no token ever reaches a log line
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
