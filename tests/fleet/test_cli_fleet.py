"""``wsep run --hosts``: prefixed or grouped output, summary, exit status, Ctrl-C ends all."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import pytest
from support.cli import cli_env, start_wsep
from support.fleet import TOKEN
from support.proc import wait_until_gone

pytestmark = pytest.mark.usefixtures("no_leaked_children")


async def wsep(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    proc = await start_wsep(*args, stdin=subprocess.DEVNULL if input is None else subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(input), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_inventory(tmp_path, urls: list[str], down: str, auth: str) -> str:
    path = tmp_path / "hosts.toml"
    (tmp_path / "token").write_text(TOKEN + "\n")
    path.write_text(
        f"""
[targets.web1]
url = "{urls[0]}"
groups = ["web"]

[targets.web2]
url = "{urls[1]}"
groups = ["web"]

[targets.secured]
url = "{auth}"
token_file = "token"

[targets.gone]
url = "{down}"
groups = ["broken"]
"""
    )
    return str(path)


async def test_lines_are_prefixed_with_the_target(fleet_urls: list[str]) -> None:
    urls = ",".join(fleet_urls[:2])
    code, out, err = await wsep("run", "--url", urls, "--", "sh", "-c", "echo a; echo b >&2")
    names = [u.split("//")[1].rstrip("/") for u in fleet_urls[:2]]
    assert code == 0
    assert sorted(out.splitlines()) == sorted(f"{n} | a" for n in names)
    assert f"{names[0]} | b" in err.splitlines()
    assert "wsep: 2 targets: 2 ok" in err
    assert "\x1b[" not in out + err  # no colours: stdout is not a terminal


async def test_inventory_group_and_exit_status(
    fleet_urls: list[str], auth_url: str, down_url: str, tmp_path
) -> None:
    hosts = write_inventory(tmp_path, fleet_urls, down_url, auth_url)
    code, out, err = await wsep("run", "--hosts", f"{hosts}:web", "--", "sh", "-c", "exit 3")
    assert code == 3
    assert "wsep: 2 targets: 0 ok, 2 failed" in err
    assert "web1: exit 3" in err

    code, out, err = await wsep("run", "--hosts", hosts, "--", "echo", "hi")
    assert code == 255  # one target is unreachable
    assert sorted(out.splitlines()) == ["secured | hi", "web1    | hi", "web2    | hi"]
    assert "wsep: 4 targets: 3 ok, 1 unreachable" in err
    assert "gone: unreachable: cannot connect" in err


async def test_grouped_output_timeout_and_concurrency(fleet_urls: list[str]) -> None:
    urls = ",".join(fleet_urls)
    script = "echo first; echo second"
    code, out, _ = await wsep(
        "run", "--group", "--concurrency", "1", "--url", urls, "--", "sh", "-c", script
    )
    assert code == 0
    blocks = out.split("== ")[1:]
    assert len(blocks) == 3
    assert all(block.endswith(": exit 0\nfirst\nsecond\n") for block in blocks)

    code, _, err = await wsep("run", "--timeout", "2", "--url", urls, "--", "sleep", "60")
    assert code == 124
    assert "timed out after 2 s" in err


@pytest.mark.parametrize("concurrency", ["3", "1"])
async def test_stdin_goes_to_every_target(fleet_urls: list[str], concurrency: str) -> None:
    # All at once: streamed as it comes; one at a time: read whole, then sent to each.
    data = b"".join(b"line %d\n" % i for i in range(20_000))
    code, out, _ = await wsep(
        "run", "--concurrency", concurrency, "--url", ",".join(fleet_urls), "--", "sha256sum",
        input=data,
    )  # fmt: skip
    assert code == 0
    digest = __import__("hashlib").sha256(data).hexdigest()
    assert [line.split(" | ")[1].split()[0] for line in out.splitlines()] == [digest] * 3


async def test_ctrl_c_ends_every_remote_process(fleet_urls: list[str]) -> None:
    # stdin stays open (no EOF): the interrupt must not wait for it.
    proc = await start_wsep(
        "run", "--url", ",".join(fleet_urls), "--", "sh", "-c", "echo $$; exec sleep 60",
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    pids = []
    for _ in fleet_urls:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        pids.append(int(line.decode().split("|")[1]))
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 60)
    err = await proc.stderr.read()
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.returncode == 130
    assert b"interrupted" in err
    for pid in pids:
        assert await wait_until_gone(pid) == []


async def test_usage_errors(tmp_path) -> None:
    code, _, err = await wsep("run", "--hosts", str(tmp_path / "nope.toml"), "--", "true")
    assert code == 2
    assert "nope.toml" in err
    code, _, err = await wsep("run", "-t", "--url", "ws://a:1/,ws://b:1/", "--", "true")
    assert code == 2
    assert "-t and --id" in err


async def test_names_are_coloured_on_a_terminal(fleet_urls: list[str]) -> None:
    import pty

    primary, secondary = pty.openpty()
    env = cli_env(drop=("NO_COLOR",))
    env["TERM"] = "xterm"
    proc = await start_wsep(
        "run",
        "--url",
        ",".join(fleet_urls[:2]),
        "--",
        "echo",
        "hi",
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(secondary)
    await asyncio.wait_for(proc.wait(), 120)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert b"\x1b[36m" in output
    assert output.count(b"hi") == 2
