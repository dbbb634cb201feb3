"""A real nginx in front of a wsep server, configured by deploy/nginx/wsep.conf."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from support import REPO
from support.proc import stop_process
from support.wire import free_port

__all__ = ["NGINX", "SITE", "Nginx", "nginx_in_front", "render_site"]

#: The deploy site every test front is made from.
SITE = REPO / "deploy" / "nginx" / "wsep.conf"
#: Debian's nginx (package nginx-light), None where it is not installed.
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def render_site(upstream_port: int, listen_port: int, cert: Path, key: Path, logs: Path) -> str:
    """The deploy site with this test's ports, certificate and log paths; no port 80."""
    site = SITE.read_text(encoding="utf-8")
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
    site = site.replace("    listen 443 ssl;\n", f"    listen 127.0.0.1:{listen_port} ssl;\n")
    site = site.replace("    listen [::]:443 ssl;\n", "")
    site = site.replace("/etc/ssl/certs/wsep.example.org.pem", str(cert))
    site = site.replace("/etc/ssl/private/wsep.example.org.key", str(key))
    site = site.replace("/var/log/nginx/", f"{logs}/")
    site = site.replace("shared:wsep_ssl:10m", "shared:wsep_ssl:1m")
    # the plain-HTTP redirect server is not needed here (it would want port 80)
    site = re.sub(r"\nserver \{\n    listen 80;.*?\n\}\n", "\n", site, flags=re.DOTALL)
    assert f"127.0.0.1:{listen_port} ssl" in site
    assert "listen 80" not in site
    return site


@dataclass
class Nginx:
    url: str
    ctx: ssl.SSLContext
    logs: Path
    proc: subprocess.Popen[bytes]


@contextmanager
def nginx_in_front(tmp_path: Path, upstream_port: int) -> Iterator[Nginx]:
    """nginx with the deploy site on a free 127.0.0.1 port (TLS from a test CA), in front
    of the server on ``upstream_port``; stopped gracefully afterwards."""
    assert NGINX is not None, "skip the test where NGINX is None"
    ca = trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    (tmp_path / "wsep.conf").write_text(render_site(upstream_port, port, cert, key, logs))
    temp = tmp_path / "temp"
    temp.mkdir()
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {logs}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/wsep.conf;
}}
"""
    )
    test = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(logs / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-e", str(logs / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, proc)
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        yield Nginx(f"wss://127.0.0.1:{port}/", ctx, logs, proc)
    finally:
        stop_process(proc, signal.SIGQUIT, 15)  # graceful: workers finish, master exits
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"nginx exited with {proc.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
