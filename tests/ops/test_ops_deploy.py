"""deploy/ as shipped: wheels from the checkout, unit files, the unit's command line, policy.

The wheels go into a fresh venv of Debian's ``python3`` (what a server has), the
unit's ``ExecStart`` runs as an unprivileged user (as ``User=wsep`` does) with
SECURITY.md's sample policy, taken from the document so that it stays true.
"""

from __future__ import annotations

import configparser
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wsep_client
from support import REPO
from support.ops import TOKEN_A, TOKEN_B, Server, clean_env
from wsep_server.auth import hash_token

UNITS = REPO / "deploy" / "systemd"
SECURITY = REPO / "packages" / "wsep-server" / "SECURITY.md"
SYSTEM_PYTHON = "/usr/bin/python3"


def sample_policy() -> str:
    """The policy sample of SECURITY.md (the first ``toml`` block)."""
    found = re.search(r"```toml\n(.*?)```", SECURITY.read_text(), flags=re.DOTALL)
    assert found is not None
    return found.group(1)


def exec_start() -> list[str]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((UNITS / "wsep-server.service").read_text().replace("\\\n", " "))
    return shlex.split(unit["Service"]["ExecStart"])


def test_unit_runs_unprivileged_with_notify_and_watchdog() -> None:
    text = (UNITS / "wsep-server.service").read_text()
    for line in ("Type=notify", "User=wsep", "Group=wsep", "WatchdogSec=", "ExecReload="):
        assert f"\n{line}" in text, line
    assert "github.com" not in text
    docs = [line for line in text.splitlines() if line.startswith("Documentation=")]
    assert docs
    assert all("wsep-server" in line for line in docs)
    assert "SECURITY.md" in text  # where the policy format is described
    assert "ListenStream=127.0.0.1:8080" in (UNITS / "wsep-server.socket").read_text()
    assert "--host 127.0.0.1 --port 8080" in text


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """The three wheels built from this checkout, installed into a fresh venv."""
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} is not installed")
    root = Path(tempfile.mkdtemp(prefix="wsep-deploy-"))
    root.chmod(0o755)  # the unprivileged service user reads the venv
    try:
        dist = root / "dist"
        packages = [
            str(REPO / "packages" / p) for p in ("wsep-protocol", "wsep-server", "wsep-client")
        ]
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), *packages],
            check=True, timeout=600, env=clean_env(), capture_output=True,
        )  # fmt: skip
        venv = root / "opt-wsep"
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", *map(str, sorted(dist.glob("*.whl")))],
            check=True, timeout=600, env=clean_env(), capture_output=True,
        )  # fmt: skip
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.once
def test_units_verify(installed: Path) -> None:
    """``systemd-analyze verify`` on both units, the ExecStart pointing at a real install."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    units = installed / "units"
    units.mkdir()
    venv = installed / "opt-wsep"
    for name in ("wsep-server.service", "wsep-server.socket"):
        text = (UNITS / name).read_text().replace("/opt/wsep/", f"{venv}/")
        (units / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(units / "wsep-server.service"),
         str(units / "wsep-server.socket")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), done.stderr


@pytest.mark.once
async def test_the_units_command_line_with_the_sample_policy(
    installed: Path, run_server: Callable[..., Server]
) -> None:
    """From the installed wheels, as an unprivileged user: the sample policy lets work through."""
    service_user = None
    if os.geteuid() == 0:
        service_user = "nobody"  # stands in for the unit's `wsep`
        pwd.getpwnam(service_user)
    etc, logs, state = installed / "etc", installed / "log", installed / "lib"
    for d in (etc, logs, state):
        d.mkdir()
        if service_user is not None:
            os.chown(d, pwd.getpwnam(service_user).pw_uid, -1)
    (etc / "tokens").write_text(f"alice {hash_token(TOKEN_A)}\ncarol {hash_token(TOKEN_B)}\n")
    (etc / "policy.toml").write_text(sample_policy())
    for f in (etc / "tokens", etc / "policy.toml"):
        f.chmod(0o644)
    argv = [
        a.replace("/opt/wsep/", f"{installed}/opt-wsep/")
        .replace("/etc/wsep/", f"{etc}/")
        .replace("/var/log/wsep/", f"{logs}/")
        .replace("/var/lib/wsep/", f"{state}/")
        for a in exec_start()
    ]
    version = subprocess.run([argv[0], "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("wsep-server 0."), version.stderr
    srv = run_server("--port", "0", command=argv, cwd=installed, user=service_user)
    expected_uid = pwd.getpwnam(service_user).pw_uid if service_user else os.getuid()
    for token in (TOKEN_A, TOKEN_B):
        async with wsep_client.connect(srv.url, token=token) as remote:
            result = await remote.run("/usr/bin/id", "-u", cwd="/tmp", timeout=60)
            assert result.returncode == 0, result.stderr
            assert result.stdout == f"{expected_uid}\n".encode()
            with pytest.raises(wsep_client.StartFailed, match="not allowed: working directory"):
                await remote.run("/usr/bin/id", cwd="/etc", timeout=60)
    assert (logs / "audit.jsonl").exists()
    assert srv.stop() == 0
