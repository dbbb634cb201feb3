"""Flags for running ``wsep-server`` as a service: config file, checks, metrics, proxies."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from importlib import metadata

__all__ = [
    "ServiceOptions",
    "add_service_arguments",
    "parse_listen_address",
    "service_options",
    "versions",
]

_DISTRIBUTIONS = ("wsep-server", "wsep-protocol", "wsep-client")


def versions() -> str:
    """``wsep-server X (wsep-protocol Y, wsep-client Z)`` from the installed distributions."""
    found: list[str] = []
    for name in _DISTRIBUTIONS:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return f"{found[0]} ({', '.join(found[1:])})"


class _VersionAction(argparse.Action):
    """Like argparse's ``version`` action, but looks the versions up only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        help_text = kwargs.get("help")
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help=help_text if isinstance(help_text, str) else None,
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(versions())
        parser.exit()


def parse_listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6) as a pair; argparse type."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    if int(port) > 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return host, int(port)


def _network(text: str) -> str:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address or network: {text!r}") from None
    return text.strip()


@dataclass(frozen=True)
class ServiceOptions:
    """What the service flags say (all off by default)."""

    config: str | None = None
    check_config: bool = False
    metrics_listen: tuple[str, int] | None = None
    metrics_path: str = "/metrics"
    forwarded_from: tuple[str, ...] = ()
    forwarded_header: str = "X-Forwarded-For"


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """``--version``, ``--config``, ``--check-config``, metrics and client-address flags."""
    g = parser.add_argument_group("service")
    a = g.add_argument
    a("--version", action=_VersionAction, help="print the versions of the wsep packages and exit")
    a("--config", metavar="FILE", default=None,
      help="TOML file with any of these options as keys (tls-cert = \"...\"); flags and "
      "WSEP_* variables override it [WSEP_CONFIG]")  # fmt: skip
    a("--check-config", action="store_true", default=False,
      help="check the configuration (files readable, policy, TLS pair, auth files), "
      "print one line per problem and exit")  # fmt: skip
    a("--metrics-listen", type=parse_listen_address, default=None, metavar="HOST:PORT",
      help="serve Prometheus metrics on this loopback address (off by default) "
      "[WSEP_METRICS_LISTEN]")  # fmt: skip
    a("--metrics-path", default="/metrics",
      help="URL path of the metrics on --metrics-listen [WSEP_METRICS_PATH]")  # fmt: skip
    a("--forwarded-from", action="append", type=_network, default=[], metavar="ADDR",
      help="reverse proxy address/network whose --forwarded-header gives the client's "
      "address for logs, audit and limits (repeatable) [WSEP_FORWARDED_FROM]")  # fmt: skip
    a("--forwarded-header", default="X-Forwarded-For", choices=["X-Forwarded-For", "X-Real-IP"],
      help="header a --forwarded-from proxy puts the client's address in "
      "[WSEP_FORWARDED_HEADER]")  # fmt: skip


def service_options(ns: argparse.Namespace) -> ServiceOptions:
    """The options out of a namespace parsed with :func:`add_service_arguments`."""
    from .security_options import is_loopback

    listen = ns.metrics_listen
    if listen is not None and not is_loopback(listen[0]):
        raise ValueError(
            f"--metrics-listen {listen[0]}: metrics are served without authentication, "
            "so only on a loopback address; scrape them through an authenticating proxy"
        )
    if not ns.metrics_path.startswith("/"):
        raise ValueError("--metrics-path must start with /")
    return ServiceOptions(
        config=ns.config,
        check_config=bool(ns.check_config),
        metrics_listen=listen,
        metrics_path=ns.metrics_path,
        forwarded_from=tuple(ns.forwarded_from),
        forwarded_header=ns.forwarded_header,
    )
