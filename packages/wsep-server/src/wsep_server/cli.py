"""``wsep-server``: every flag also comes from a ``WSEP_*`` variable and the config file.

Declare a flag with a plain default and its variable in brackets in the help
(``[WSEP_NAME]``): :mod:`.settings` takes the value from the environment or
the config file through the flag's own type and choices.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from .security_options import SecurityOptions, add_security_arguments, security_options
from .service import ServiceOptions, add_service_arguments, service_options
from .settings import env_default, env_flag
from .web.options import WebOptions, add_web_arguments, web_options

__all__ = ["Options", "parse_args"]


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    path: str
    unix_socket: str | None
    tls_cert: str | None
    tls_key: str | None
    log_level: str
    log_format: str
    grace_period: float
    compress: bool
    heartbeat: float | None
    max_message_size: int
    exit_linger: float
    execer: str | None
    tune_malloc: bool
    web: bool = False
    header_timeout: float = 30.0
    session_timeout: float = 300.0
    scrub_env: tuple[str, ...] = ()
    cgroup: str = "auto"
    security: SecurityOptions = field(default_factory=SecurityOptions)
    service: ServiceOptions = field(default_factory=ServiceOptions)
    web_options: WebOptions = field(default_factory=WebOptions)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    from .config import DEFAULT_MAX_RECEIVE_SIZE

    p = argparse.ArgumentParser(
        prog="wsep-server",
        description="Run commands for wsep clients over WebSocket. "
        "Every option can also be set with the environment variable in brackets.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a("--host", default=env_default("HOST", "127.0.0.1"), help="address to listen on [WSEP_HOST]")
    a("--port", type=int, default=8080,
      help="TCP port, 0 for any free one [WSEP_PORT]")  # fmt: skip
    a(
        "--path",
        default=env_default("PATH", "/"),
        help="URL path of the WebSocket endpoint [WSEP_PATH]",
    )
    a("--unix-socket", default=env_default("UNIX_SOCKET", None),
      help="listen on this Unix socket instead of TCP [WSEP_UNIX_SOCKET]")  # fmt: skip
    a(
        "--tls-cert",
        default=env_default("TLS_CERT", None),
        help="PEM certificate (chain) [WSEP_TLS_CERT]",
    )
    a("--tls-key", default=env_default("TLS_KEY", None), help="PEM private key [WSEP_TLS_KEY]")
    a("--log-level", default=env_default("LOG_LEVEL", "info"),
      choices=["debug", "info", "warning", "error"], help="[WSEP_LOG_LEVEL]")  # fmt: skip
    a("--log-format", default=env_default("LOG_FORMAT", "text"), choices=["text", "json"],
      help="log lines as text or one JSON object per line [WSEP_LOG_FORMAT]")  # fmt: skip
    a("--grace-period", type=_positive_float, default=5.0,
      help="seconds running sessions get on SIGTERM/SIGINT [WSEP_GRACE_PERIOD]")  # fmt: skip
    a("--compress", action=argparse.BooleanOptionalAction, default=env_flag("COMPRESS"),
      help="accept permessage-deflate (costs 10-60x throughput) [WSEP_COMPRESS]")  # fmt: skip
    a("--heartbeat", type=_positive_float, default=30.0,
      help="seconds between pings to detect dead peers, 0 for off [WSEP_HEARTBEAT]")  # fmt: skip
    a("--max-message-size", type=int,
      default=DEFAULT_MAX_RECEIVE_SIZE,
      help="largest message a client may send, in bytes [WSEP_MAX_MESSAGE_SIZE]")  # fmt: skip
    a("--exit-linger", type=_positive_float, default=30.0,
      help="seconds to wait for the client's close after exit_code [WSEP_EXIT_LINGER]")  # fmt: skip
    a("--execer", default=env_default("EXECER", None),
      help="serve this execer, given as package.module:factory [WSEP_EXECER]")  # fmt: skip
    a("--web", action=argparse.BooleanOptionalAction, default=env_flag("WEB"),
      help="also serve the web terminal at / and the JS client at /static/wsep.js "
      "(xterm.js from npm: run `npm ci` in packages/wsep-server/web) [WSEP_WEB]")  # fmt: skip
    a("--header-timeout", type=_positive_float,
      default=30.0,
      help="seconds a client may take to send its HTTP request (the upgrade) before it "
      "is dropped; also closes idle keep-alive connections [WSEP_HEADER_TIMEOUT]")  # fmt: skip
    a("--session-timeout", type=_positive_float,
      default=300.0,
      help="seconds a reattachable session (a TTY start with an id) lives with no client "
      "attached [WSEP_SESSION_TIMEOUT]")  # fmt: skip
    a("--tune-malloc", action=argparse.BooleanOptionalAction,
      default=env_flag("TUNE_MALLOC", True),
      help="raise glibc's malloc thresholds for large buffers [WSEP_TUNE_MALLOC]")  # fmt: skip
    a("--scrub-env", action="append", default=_names(env_default("SCRUB_ENV", "")), metavar="NAME",
      help="never pass this variable of the server's environment to commands; glob "
      "patterns allowed, repeatable (WSEP_* never is passed) [WSEP_SCRUB_ENV]")  # fmt: skip
    a("--cgroup", default=env_default("CGROUP", "auto"), metavar="auto|off|DIR",
      help="run each session in a cgroup v2 below this one (auto: the server's own, "
      "when writable, e.g. systemd Delegate=yes) [WSEP_CGROUP]")  # fmt: skip
    add_security_arguments(p)
    add_service_arguments(p)
    add_web_arguments(p)
    return p


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def parse_args(argv: Sequence[str] | None = None) -> Options:
    from .settings import (
        SettingError,
        apply_layers,
        build_parser_despite_environment,
        find_config_path,
        finish_namespace,
        load_config_file,
    )

    parser = build_parser_despite_environment(_build_parser)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        path = find_config_path(args, os.environ)
        config = load_config_file(path) if path else None
        lists = apply_layers(parser, environ=os.environ, config=config, config_path=path or "")
    except SettingError as exc:
        parser.error(str(exc))
    ns = parser.parse_args(args)
    finish_namespace(ns, lists)
    if bool(ns.tls_cert) != bool(ns.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if not ns.path.startswith("/"):
        parser.error("--path must start with /")
    if ns.max_message_size < 1024:
        parser.error("--max-message-size must be at least 1024")
    try:
        security = security_options(ns)
        service = service_options(ns)
    except ValueError as exc:
        parser.error(str(exc))
    return Options(
        host=ns.host,
        port=ns.port,
        path=ns.path,
        unix_socket=ns.unix_socket or None,
        tls_cert=ns.tls_cert or None,
        tls_key=ns.tls_key or None,
        log_level=ns.log_level,
        log_format=ns.log_format,
        grace_period=ns.grace_period,
        compress=ns.compress,
        heartbeat=ns.heartbeat or None,
        max_message_size=ns.max_message_size,
        exit_linger=ns.exit_linger,
        execer=ns.execer or None,
        tune_malloc=ns.tune_malloc,
        web=ns.web,
        header_timeout=ns.header_timeout,
        session_timeout=ns.session_timeout,
        scrub_env=tuple(n for item in ns.scrub_env for n in _names(item)),
        cgroup=ns.cgroup,
        security=security,
        service=service,
        web_options=web_options(ns),
    )
