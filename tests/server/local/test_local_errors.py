"""Start errors: precise kinds and messages, decided before anything runs where possible."""

from __future__ import annotations

import asyncio
import os
import select
import signal
from pathlib import Path

import pytest
from support import TIMEOUT, write_executable
from support.localexec import run
from support.proc import open_fds
from wsep_protocol import CloseCode, Command, StartError, StartErrorKind
from wsep_server.local import LocalExecer


async def start_error(execer: LocalExecer, command: Command) -> StartError:
    before = open_fds()
    with pytest.raises(StartError) as info:
        await execer.start(command)
    assert open_fds() == before  # a failed start leaks nothing
    return info.value


async def test_command_not_found(execer: LocalExecer) -> None:
    err = await start_error(execer, Command("wsep-no-such-command"))
    assert err.kind is StartErrorKind.COMMAND_NOT_FOUND
    assert "wsep-no-such-command" in str(err)
    assert "not found" in str(err)
    assert err.close_code == CloseCode.INTERNAL_ERROR


async def test_path_from_command_env_is_not_searched(execer: LocalExecer, tmp_path: Path) -> None:
    write_executable(tmp_path / "wsep-private-tool", "#!/bin/sh\necho ran\n")
    err = await start_error(execer, Command("wsep-private-tool", env=(f"PATH={tmp_path}",)))
    assert err.kind is StartErrorKind.COMMAND_NOT_FOUND
    with pytest.raises(StartError):
        execer.resolve(Command("wsep-private-tool", env=(f"PATH={tmp_path}",)))


async def test_server_path_is_searched(
    execer: LocalExecer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = write_executable(tmp_path / "wsep-private-tool", "#!/bin/sh\necho ran\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert execer.resolve(Command("wsep-private-tool")) == str(tool)
    out, _, _ = await run(execer, Command("wsep-private-tool"))
    assert out == b"ran\n"


async def test_missing_path_with_slash(execer: LocalExecer, tmp_path: Path) -> None:
    err = await start_error(execer, Command("./nothing-here", working_dir=str(tmp_path)))
    assert err.kind is StartErrorKind.COMMAND_NOT_FOUND
    assert "./nothing-here" in str(err)


async def test_not_executable(execer: LocalExecer, tmp_path: Path) -> None:
    script = tmp_path / "plain.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    err = await start_error(execer, Command(str(script)))
    assert err.kind is StartErrorKind.PERMISSION_DENIED
    assert "permission denied" in str(err)


async def test_not_executable_on_path(
    execer: LocalExecer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wsep-plain").write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    err = await start_error(execer, Command("wsep-plain"))
    assert err.kind is StartErrorKind.PERMISSION_DENIED


async def test_directory_as_command(execer: LocalExecer, tmp_path: Path) -> None:
    err = await start_error(execer, Command(str(tmp_path)))
    assert err.kind is StartErrorKind.PERMISSION_DENIED
    assert "is a directory" in str(err)


@pytest.mark.parametrize("tty", [False, True])
async def test_missing_interpreter(execer: LocalExecer, tmp_path: Path, tty: bool) -> None:
    """Only execve can tell: the child's errno reaches the parent (and nothing leaks)."""
    script = write_executable(tmp_path / "bad.sh", "#!/no/such/interpreter\n")
    err = await start_error(execer, Command(str(script), tty=tty))
    assert err.kind is StartErrorKind.COMMAND_NOT_FOUND
    assert "interpreter" in str(err)


async def test_no_such_working_dir(execer: LocalExecer, tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    err = await start_error(execer, Command("true", working_dir=str(missing)))
    assert err.kind is StartErrorKind.NO_SUCH_DIRECTORY
    assert str(missing) in str(err)


async def test_working_dir_is_a_file(execer: LocalExecer, tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_text("")
    err = await start_error(execer, Command("true", working_dir=str(file)))
    assert err.kind is StartErrorKind.NO_SUCH_DIRECTORY
    assert "not a directory" in str(err)


@pytest.mark.parametrize(
    "command",
    [
        Command(""),
        Command("echo", ("a\0b",)),
        Command("true", env=("NO_EQUALS_SIGN",)),
        Command("true", env=("=value",)),
        Command("true", uid=-1),
        Command("true", gid=2**32 - 1),
    ],
)
async def test_invalid_command(execer: LocalExecer, command: Command) -> None:
    err = await start_error(execer, command)
    assert err.kind is StartErrorKind.INVALID_COMMAND


async def test_tty_start_error_leaks_no_fds(execer: LocalExecer) -> None:
    err = await start_error(execer, Command("wsep-no-such-command", tty=True))
    assert err.kind is StartErrorKind.COMMAND_NOT_FOUND


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_switch_to_nobody(execer: LocalExecer, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    out, _, status = await run(
        execer,
        Command("sh", ("-c", "id -u; id -g; id -G"), uid=65534, gid=65534, working_dir="/"),
    )
    assert status.code == 0
    assert out.split() == [b"65534", b"65534", b"65534"]  # no supplementary root group


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_switch_uid_only_takes_primary_group(execer: LocalExecer) -> None:
    import pwd

    nobody = pwd.getpwuid(65534)
    out, _, _ = await run(execer, Command("id", ("-g",), uid=65534, working_dir="/"))
    assert out.strip() == str(nobody.pw_gid).encode()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_switched_user_cannot_exec(execer: LocalExecer) -> None:
    import tempfile

    # A directory the user can search (pytest's own tmp_path sits below a 0700 one).
    with tempfile.TemporaryDirectory(dir="/tmp") as visible:
        os.chmod(visible, 0o755)
        script = Path(visible) / "root-only.sh"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o700)
        err = await start_error(execer, Command(str(script), uid=65534, gid=65534))
    assert err.kind is StartErrorKind.PERMISSION_DENIED


async def _as_nobody() -> list[str]:
    execer = LocalExecer()
    lines = []
    try:
        await execer.start(Command("true", uid=1, gid=1, working_dir="/"))
    except StartError as e:
        lines.append(f"{e.kind.value} {int(e.close_code)}")
    # Asking for the ids it already has is no switch, so it is allowed.
    proc = await execer.start(Command("id", ("-u",), uid=65534, gid=65534, working_dir="/"))
    out = (await proc.stdout.read(100)).decode().strip()
    lines.append(f"{out} {(await proc.wait()).code}")
    await proc.close()
    return lines


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_switch_denied_when_not_root() -> None:
    """A server running as nobody may not switch user, except to itself (close 1008)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            lines = asyncio.run(_as_nobody())
            os.write(w, "\n".join(lines).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], TIMEOUT)
        if not ready:  # pragma: no cover - a hung child must not hang the suite
            os.kill(pid, signal.SIGKILL)
        with os.fdopen(r, "rb") as f:
            result = f.read().decode()
    finally:
        os.waitpid(pid, 0)
    assert result.split("\n") == ["user_switch_denied 1008", "65534 0"]


async def test_relative_path_entries_are_skipped(
    execer: LocalExecer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_executable(tmp_path / "wsep-dot-tool", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", f".{os.pathsep}{os.environ['PATH']}")
    err = await start_error(execer, Command("wsep-dot-tool", working_dir=str(tmp_path)))
    assert err.kind is StartErrorKind.COMMAND_NOT_FOUND
