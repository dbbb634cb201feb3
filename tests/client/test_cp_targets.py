"""``wsep cp`` into directories, without partial files, and never through a planted symlink."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios

import pytest
from support.cli import WSEP_COMMAND, cli_env, one_line, wsep

pytestmark = pytest.mark.usefixtures("no_leaked_children")


def _leftovers(directory) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name in os.listdir(directory) if "wsep-part" in name]


async def test_download_into_the_current_directory(url: str, tmp_path) -> None:
    source = tmp_path / "remote" / "hostname"
    source.parent.mkdir()
    source.write_bytes(b"box\n")
    here = tmp_path / "here"
    here.mkdir()
    cwd = os.getcwd()
    os.chdir(here)
    try:
        code, _, err = await wsep("cp", f":{source}", ".", env={"WSEP_URL": url})
    finally:
        os.chdir(cwd)
    assert (code, err) == (0, b"")
    assert (here / "hostname").read_bytes() == b"box\n"
    assert _leftovers(here) == []


async def test_download_into_a_directory_with_a_slash(url: str, tmp_path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(100_000))
    into = tmp_path / "into"
    into.mkdir()
    code, _, err = await wsep("cp", f":{source}", f"{into}/", env={"WSEP_URL": url})
    assert (code, err) == (0, b"")
    assert (into / "data.bin").read_bytes() == source.read_bytes()
    assert _leftovers(into) == []


async def test_download_into_a_missing_directory_is_one_line(url: str, tmp_path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"x")
    code, _, err = await wsep("cp", f":{source}", f"{tmp_path}/absent/", env={"WSEP_URL": url})
    assert code == 1
    assert "absent" in one_line(err)
    assert _leftovers(tmp_path) == []


async def test_failed_download_leaves_nothing_behind(url: str, tmp_path) -> None:
    code, _, err = await wsep("cp", f":{tmp_path}/missing", f"{tmp_path}/", env={"WSEP_URL": url})
    assert code == 1
    assert "not a readable file" in one_line(err)
    assert _leftovers(tmp_path) == []


async def test_upload_into_a_remote_directory(url: str, tmp_path) -> None:
    local = tmp_path / "report.txt"
    local.write_bytes(b"numbers\n")
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    for target in (str(remote_dir), f"{remote_dir}/"):
        code, _, err = await wsep("cp", str(local), f":{target}", env={"WSEP_URL": url})
        assert (code, err) == (0, b"")
        assert (remote_dir / "report.txt").read_bytes() == b"numbers\n"
        assert sorted(os.listdir(remote_dir)) == ["report.txt"]
        (remote_dir / "report.txt").unlink()


async def test_upload_keeps_the_umask_mode_and_leaves_no_temporary_file(url: str, tmp_path) -> None:
    local = tmp_path / "script"
    local.write_bytes(b"#!/bin/sh\n")
    remote = tmp_path / "remote"
    remote.mkdir()
    code, _, _ = await wsep("cp", str(local), f":{remote}/copy", env={"WSEP_URL": url})
    assert code == 0
    mode = (remote / "copy").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert os.listdir(remote) == ["copy"]


def test_download_never_follows_a_planted_part_symlink(server_process, tmp_path) -> None:
    """The attack: a symlink at ``<target>.wsep-part`` pointing at another file."""
    source = tmp_path / "payload"
    source.write_bytes(b"attacker-chosen bytes\n")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    target = tmp_path / "download"
    os.symlink(victim, f"{target}.wsep-part")
    env = cli_env({"WSEP_URL": server_process.url})
    done = subprocess.run(
        [*WSEP_COMMAND, "cp", f":{source}", str(target)], capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert victim.read_bytes() == b"precious\n"
    assert target.read_bytes() == b"attacker-chosen bytes\n"
    assert os.path.islink(f"{target}.wsep-part")  # left alone, not followed


def test_progress_bar_fits_the_terminal_width() -> None:
    from wsep_client._cli_cp import ProgressBar

    main, secondary = os.openpty()
    try:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 90, 0, 0))
        stream = os.fdopen(secondary, "w", closefd=False)
        bar = ProgressBar("/a/very/long/path/" + "x" * 120 + "/data.tar", stream)
        for total in (10_000_000, None):
            for elapsed in (0.5, 3.0, 1000.0):
                line = bar.line(1_234_567, total, elapsed)
                assert 0 < len(line) <= 89, line
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
        assert len(bar.line(5, 10, 1.0)) <= 39
    finally:
        os.close(main)
        os.close(secondary)


def test_progress_bar_redraws_at_most_ten_times_a_second() -> None:
    import io
    import time

    from wsep_client._cli_cp import REDRAW_INTERVAL, ProgressBar

    bar = ProgressBar("file", io.StringIO())
    start = time.monotonic()
    for done in range(20_000):
        bar(done, 1_000_000)
    elapsed = time.monotonic() - start
    assert bar.redraws <= 1 + elapsed / REDRAW_INTERVAL
