"""What a command gets and what a refusal says: attacks on a real ``wsep-server`` process.

The server's own secrets (``WSEP_TOKEN`` above all) must never reach a
command, whichever user it runs as; the client may only set variables the
policy allows; arguments the policy forbids never reach a program; a refusal
tells no more than the run-as user could find out itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import write_executable
from support.security import RUNNING_AS_ROOT, Outcome, attempt, start_message

ADMIN_SECRET = "admin-secret-token-0123456789abcdef"
RESTRICTED = "restricted-token-0123456789abcdef"
PLAIN = "plain-token-0123456789abcdef"
JAILED = "jailed-token-0123456789abcdef"
as_root = pytest.mark.skipif(not RUNNING_AS_ROOT, reason="switching users needs root")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def visible() -> Iterator[Path]:
    """A directory every user can search (pytest's tmp_path sits below a 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="wsep-env-", dir="/tmp"))
    path.chmod(0o755)
    for sub in ("bin", "work", "private-place"):
        (path / sub).mkdir(mode=0o755)
    prog = path / "private-place" / "prog"
    write_executable(prog, "#!/bin/sh\necho private\n")
    (path / "bin" / "innocent").symlink_to(prog)
    (path / "work" / "escape").symlink_to(path / "private-place")
    hidden = path / "hidden"
    hidden.mkdir(mode=0o700)  # owned by the server's user: others cannot look inside
    write_executable((hidden / "tool"), "#!/bin/sh\necho secret tool\n")
    (hidden / "data").write_text("not a program\n")
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def env_server(start_server_process: Callable[..., Any], tmp_path: Path, visible: Path) -> Any:
    """A server holding an admin token in ``WSEP_TOKEN`` and a secret the operator scrubs,
    with a restricted identity that may only run as uid 65534."""
    from wsep_server.auth import hash_token

    tokens = tmp_path / "tokens"
    tokens.write_text(
        f"restricted {hash_token(RESTRICTED)}\nplain {hash_token(PLAIN)}\n"
        f"jailed {hash_token(JAILED)}\n"
    )
    own = os.geteuid()
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f"""
[default]
uids = [{own}]

[identity.token]
uids = [0, 65534]
gids = [65534]

[identity.restricted]
uids = [65534]
gids = [65534]
commands = ["/usr/bin/*", "/bin/*", "{visible}/hidden/*"]
environment = "clean"

[identity.jailed]
commands = ["/usr/bin/true", "{visible}/bin/*"]
working_dirs = ["{visible}/work"]

[identity.plain]
env_allow = ["EDITOR"]
record_pipes = true

[identity.plain.arguments."/usr/bin/git"]
deny = ["-c", "-c*", "--config-env*", "--exec-path*"]

[identity.plain.arguments."/usr/bin/tar"]
deny = ["--checkpoint-action*", "--to-command*", "--use-compress-program*", "-I*"]
deny_line = ["re:.*--checkpoint-action.*"]
""",
        encoding="utf-8",
    )
    return start_server_process(
        "--token-file", str(tokens),
        "--policy", str(policy),
        "--record-dir", str(tmp_path / "casts"),
        "--scrub-env", "SECRET_*",
        "--scrub-env", "DATABASE_URL",

        env={
            "WSEP_TOKEN": ADMIN_SECRET,
            "SECRET_API_KEY": "api-key-0123456789",
            "DATABASE_URL": "postgres://u:pw@db/x",
            "SERVER_ONLY": "server-only-value",
            "LANG": "C.UTF-8",
        },
    )  # fmt: skip


async def _run(srv: Any, token: str, *argv: str, **kwargs: Any) -> Outcome:
    kwargs.setdefault("working_dir", "/")
    return await attempt(srv.url, start_message(*argv, **kwargs), headers=_bearer(token))


def _env_lines(out: Outcome) -> dict[str, str]:
    assert out.exit is not None, out
    pairs = (line.partition("=") for line in out.stdout.decode().splitlines())
    return {k: v for k, _, v in pairs}


# --- the server's secrets -----------------------------------------------------------------


@as_root
async def test_restricted_identity_cannot_read_the_admin_token(env_server: Any) -> None:
    out = await _run(
        env_server, RESTRICTED, "/usr/bin/printenv", "WSEP_TOKEN", uid=65534, gid=65534
    )
    assert out.exit is not None, out
    assert ADMIN_SECRET.encode() not in out.stdout
    assert out.stdout == b""
    assert out.exit["exit_code"] == 1  # printenv: not set


async def test_no_command_sees_the_servers_secrets(env_server: Any) -> None:
    for tty in (False, True):
        out = await _run(env_server, PLAIN, "/usr/bin/env", tty=tty)
        text = out.stdout.decode()
        for secret in (ADMIN_SECRET, "api-key-0123456789", "postgres://"):
            assert secret not in text, (tty, text)
        env = _env_lines(out)
        assert {k for k in env if k.startswith("WSEP_")} <= {"WSEP_TTY", "WSEP_SESSION_TAG"}
        assert env["SERVER_ONLY"].strip() == "server-only-value"  # inherited otherwise


@as_root
@pytest.mark.once
async def test_clean_environment_for_the_run_as_user(env_server: Any) -> None:
    out = await _run(env_server, RESTRICTED, "/usr/bin/env", uid=65534, gid=65534)
    env = _env_lines(out)
    assert env["HOME"] == "/nonexistent"
    assert env["USER"] == env["LOGNAME"] == "nobody"
    assert env["SHELL"] == "/usr/sbin/nologin"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["LANG"] == "C.UTF-8"
    assert "SERVER_ONLY" not in env
    assert "TERM" not in env
    out = await _run(env_server, RESTRICTED, "/usr/bin/env", uid=65534, gid=65534, tty=True)
    assert "TERM=" in out.stdout.decode()


# --- what the client may set ---------------------------------------------------------------


DANGEROUS = (
    "GIT_CONFIG_COUNT=1",
    "OPENSSL_CONF=/tmp/x",
    "LESSOPEN=|id",
    "GIT_SSH_COMMAND=id",
    "TAR_OPTIONS=--checkpoint-action=exec=id",
    "HOME=/tmp",
)


async def test_dangerous_client_variables_are_refused(env_server: Any, visible: Path) -> None:
    # An identity whose section says nothing about the environment: the default applies.
    work = str(visible / "work")
    for variable in DANGEROUS:
        out = await _run(env_server, JAILED, "/usr/bin/true", env=[variable], working_dir=work)
        assert out.close_code == 1008, (variable, out)
        assert out.exit is None
        assert variable.partition("=")[0] in out.close_reason


async def test_safe_and_allowed_client_variables_pass(env_server: Any) -> None:
    out = await _run(env_server, PLAIN, "/usr/bin/env", env=["LANG=C", "TZ=UTC", "EDITOR=vi"])
    env = _env_lines(out)
    assert (env["LANG"], env["TZ"], env["EDITOR"]) == ("C", "UTC", "vi")


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.once
async def test_git_config_alias_is_refused_before_spawn(env_server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    out = await _run(env_server, PLAIN, "/usr/bin/git", "-c", f"alias.x=!touch {marker}", "x")
    assert out.close_code == 1008, out
    assert "argument '-c'" in out.close_reason
    assert out.exit is None
    assert not marker.exists()
    out = await _run(env_server, PLAIN, "/usr/bin/git", f"-calias.x=!touch {marker}", "x")
    assert out.close_code == 1008, out
    assert not marker.exists()
    out = await _run(env_server, PLAIN, "/usr/bin/git", "--version")
    assert out.exit is not None
    assert out.stdout.startswith(b"git version")


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs tar")
@pytest.mark.once
async def test_tar_checkpoint_action_is_refused(env_server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    out = await _run(
        env_server, PLAIN, "/usr/bin/tar", "-cf", "/dev/null", "--checkpoint=1",
        f"--checkpoint-action=exec=touch {marker}", "/etc/hostname",
    )  # fmt: skip
    assert out.close_code == 1008, out
    assert not marker.exists()


# --- refusals tell nothing the run-as user cannot see ----------------------------------------


@as_root
@pytest.mark.once
async def test_refusals_hide_what_the_user_cannot_see(env_server: Any, visible: Path) -> None:
    hidden = visible / "hidden"
    reasons = set()
    for name in ("tool", "data", "missing"):
        out = await _run(env_server, RESTRICTED, str(hidden / name), uid=65534, gid=65534)
        assert out.exit is None, out
        assert out.close_code is not None
        reasons.add(out.close_reason.replace(name, "NAME"))
    assert len(reasons) == 1, reasons
    # Through PATH-less relative names and working directories alike.
    out = await _run(
        env_server, RESTRICTED, "./tool", uid=65534, gid=65534, working_dir=str(hidden)
    )
    assert out.exit is None, out
    # The server's own user sees what is there.
    out = await _run(env_server, ADMIN_SECRET, str(hidden / "tool"))
    assert out.stdout == b"secret tool\n"


@pytest.mark.once
async def test_refusals_never_show_symlink_targets(env_server: Any, visible: Path) -> None:
    work = str(visible / "work")
    out = await _run(env_server, JAILED, str(visible / "bin" / "innocent"), working_dir=work)
    assert out.close_code == 1008, out
    assert "innocent" in out.close_reason
    assert "private-place" not in out.close_reason
    out = await _run(env_server, JAILED, "/usr/bin/true", working_dir=f"{work}/escape")
    assert out.close_code == 1008, out
    assert "escape" in out.close_reason
    assert "private-place" not in out.close_reason
    out = await _run(env_server, JAILED, "/usr/bin/true", working_dir=work)
    assert out.exit is not None, out


# --- recording without a TTY -------------------------------------------------------------


@pytest.mark.once
async def test_pipe_sessions_are_recorded_when_asked(env_server: Any, tmp_path: Path) -> None:
    bash = shutil.which("bash") or "/bin/bash"
    out = await attempt(
        env_server.url,
        start_message(bash, "-i", stdin=True, working_dir="/"),
        headers=_bearer(PLAIN),
        stdin=b"echo to-stdout; echo to-stderr >&2; exit 3\n",
    )
    assert out.exit is not None, out
    assert out.exit["exit_code"] == 3
    casts = list((tmp_path / "casts").glob("*.cast"))
    assert len(casts) == 1, casts
    lines = casts[0].read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    events = [json.loads(line) for line in lines[1:]]
    stdout = "".join(text for _, kind, text in events if kind == "o")
    stderr = "".join(text for _, kind, text in events if kind == "e")
    assert "to-stdout" in stdout
    assert "to-stderr" in stderr
    assert "to-stderr" not in stdout


def test_scrub_env_also_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsep_server.cli import parse_args

    monkeypatch.setenv("WSEP_SCRUB_ENV", "SECRET_*, DATABASE_URL")
    assert parse_args(["--insecure-no-auth"]).scrub_env == ("SECRET_*", "DATABASE_URL")
