"""scripts/serve's token handling, and the deploy files' consistency with the CLI."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, write_executable


def _fake_checkout(tmp_path: Path) -> Path:
    """scripts/serve in a copy whose .venv has a stand-in wsep-server that prints its input."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    (root / "packages").mkdir()
    shutil.copy(REPO / "scripts" / "serve", root / "scripts" / "serve")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    write_executable(python, f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    (root / ".venv" / ".wsep-installed").touch()
    fake = bin_dir / "wsep-server"
    write_executable(fake, '#!/bin/sh\necho "args: $*"\necho "token: ${WSEP_TOKEN:-}"\n')
    return root


def _serve(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WSEP_")}
    return subprocess.run(
        ["bash", str(root / "scripts" / "serve"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )


def test_serve_leaves_the_token_to_the_server(tmp_path: Path) -> None:
    """wsep-server makes the token and prints the command (``--token=...``, safe for a
    token starting with ``-``); scripts/serve adds no token of its own."""
    root = _fake_checkout(tmp_path)
    done = _serve(root, "--port", "9000", "--web")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("token:")
    assert "--host 127.0.0.1 --port 9000 --port 9000 --web" in done.stdout
    assert "--token" not in done.stderr


def test_serve_shows_how_to_use_a_given_token(tmp_path: Path) -> None:
    root = _fake_checkout(tmp_path)
    done = _serve(root, WSEP_TOKEN="-my-own-token-0123456789")
    assert "token: -my-own-token-0123456789" in done.stdout
    assert "-my-own-token-0123456789" not in done.stderr  # never echoed
    assert ".venv/bin/wsep run --url ws://127.0.0.1:8080/ -- uname -a" in done.stderr
    done = _serve(root, "--jwt-key", "/etc/wsep/jwt.key")
    assert done.stdout.strip().endswith("token:")
    assert "wsep run" not in done.stderr


def test_systemd_unit_flags_parse() -> None:
    from wsep_server.cli import parse_args

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    text = (REPO / "deploy" / "systemd" / "wsep-server.service").read_text()
    unit.read_string(text.replace("\\\n", " "))
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0].endswith("/wsep-server")
    assert unit["Service"]["ExecReload"].endswith("-HUP $MAINPID")
    opts = parse_args(argv[1:])
    assert opts.host == "127.0.0.1"
    assert opts.security.token_file == "/etc/wsep/tokens"
    assert opts.security.policy == "/etc/wsep/policy.toml"
    assert opts.security.audit_log
    assert opts.security.record_dir


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_verifies() -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(REPO / "deploy" / "systemd" / "wsep-server.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "/opt/wsep/bin/wsep-server" not in line
    ]
    assert not problems, done.stderr
