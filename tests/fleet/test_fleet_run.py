"""Fleet runs against real servers: per-target results, errors as values, limits, timeouts."""

from __future__ import annotations

import ssl

import pytest
import trustme
from support.fleet import TOKEN
from support.proc import wait_until_gone
from wsep_client import (
    Aborted,
    AuthenticationError,
    ConnectError,
    Fleet,
    Inventory,
    ProcessTimeout,
    StartFailed,
    Target,
)

pytestmark = pytest.mark.usefixtures("no_leaked_children")


async def test_one_call_runs_everywhere(fleet_urls: list[str]) -> None:
    inventory = Inventory.from_urls(fleet_urls)
    async with Fleet(inventory) as fleet:
        results = await fleet.run("sh", "-c", "echo out; echo err >&2; exit 3")
    assert list(results) == [t.name for t in inventory]
    for r in results.values():
        assert r.result is not None
        assert r.error is None
        assert (r.result.stdout, r.result.stderr, r.returncode) == (b"out\n", b"err\n", 3)
    assert len(results.failed) == 3
    assert not results.unreachable


async def test_each_targets_failure_is_its_own(
    fleet_urls: list[str], auth_url: str, down_url: str, make_server
) -> None:
    wrong_path = (await make_server(path="/wsep")).replace("/wsep", "/elsewhere")
    targets = [
        Target("good", fleet_urls[0]),
        Target("down", down_url),
        Target("badtoken", auth_url, token="wrong"),
        Target("goodtoken", auth_url, token=TOKEN),
        Target("notwsep", wrong_path),
    ]
    async with Fleet(targets, concurrency=2) as fleet:
        results = await fleet.run("echo", "hi")
    assert results["good"].ok
    assert results["good"].result.stdout == b"hi\n"
    assert results["goodtoken"].ok
    assert isinstance(results["down"].error, ConnectError)
    assert "refused" in str(results["down"].error)
    assert isinstance(results["badtoken"].error, AuthenticationError)
    assert isinstance(results["notwsep"].error, ConnectError)
    assert {r.target.name for r in results.unreachable} == {"down", "badtoken", "notwsep"}


async def test_a_command_that_cannot_start_is_a_start_failure(fleet_urls: list[str]) -> None:
    async with Fleet(Inventory.from_urls(fleet_urls)) as fleet:
        results = await fleet.run("wsep-no-such-command")
    for r in results.values():
        assert isinstance(r.error, StartFailed)
        assert not r.unreachable


async def test_timeout_ends_every_remote_process(fleet_urls: list[str]) -> None:
    async with Fleet(Inventory.from_urls(fleet_urls), timeout=3) as fleet:
        results = await fleet.run("sh", "-c", "echo started; exec sleep 60")
    for r in results.values():
        assert isinstance(r.error, ProcessTimeout)
        assert r.result is not None
        assert r.result.stdout == b"started\n"
        assert r.result.pid > 0
        assert await wait_until_gone(r.result.pid) == []


async def test_concurrency_bounds_running_targets(fleet_urls: list[str], tmp_path) -> None:
    # Twelve targets on three servers; each records how many run beside it.
    targets = [Target(f"t{i}", fleet_urls[i % 3]) for i in range(12)]
    script = (
        'mkdir "$1/$$"; ls "$1" | wc -l; '
        "i=0; while [ $i -lt 20 ]; do i=$((i+1)); ls / >/dev/null; done; "
        'rmdir "$1/$$"'
    )
    async with Fleet(targets, concurrency=3) as fleet:
        results = await fleet.run("sh", "-c", script, "sh", str(tmp_path))
    assert all(r.ok for r in results.values()), results.failed
    assert max(int(r.result.stdout) for r in results.values()) <= 3


async def test_same_input_to_every_stdin(fleet_urls: list[str]) -> None:
    data = b"line\n" * 50_000
    async with Fleet(Inventory.from_urls(fleet_urls), concurrency=2) as fleet:
        results = await fleet.run("sh", "-c", "cat | sha256sum", input=data)
    import hashlib

    expected = hashlib.sha256(data).hexdigest().encode()
    assert all(r.result.stdout.split()[0] == expected for r in results.values())


async def test_fail_fast_ends_the_others(fleet_urls: list[str], down_url: str) -> None:
    targets = [Target("a", fleet_urls[0]), Target("b", fleet_urls[1]), Target("down", down_url)]
    async with Fleet(targets) as fleet:
        results = await fleet.run("sleep", "60", fail_fast=True)
    assert isinstance(results["down"].error, ConnectError)
    assert isinstance(results["a"].error, Aborted)
    assert isinstance(results["b"].error, Aborted)


async def test_fail_fast_ends_processes_that_were_running(fleet_urls: list[str], tmp_path) -> None:
    # The third process to start fails; the two before it are sleeping by then.
    pids = tmp_path / "pids"
    # Appending and counting under one lock: exactly one process sees itself third.
    script = (
        'exec 9>>"$1"; flock 9; echo $$ >&9; n=$(wc -l < "$1"); flock -u 9; exec 9>&-; '
        'if [ "$n" -ge 3 ]; then exit 3; fi; exec sleep 60'
    )
    targets = [Target(f"t{i}", url) for i, url in enumerate(fleet_urls)]
    async with Fleet(targets) as fleet:
        results = await fleet.run("sh", "-c", script, "sh", str(pids), fail_fast=True)
    failed = [r for r in results.values() if r.returncode == 3]
    aborted = [r for r in results.values() if isinstance(r.error, Aborted)]
    assert (len(failed), len(aborted)) == (1, 2)
    for pid in map(int, pids.read_text().split()):
        assert await wait_until_gone(pid) == []


async def test_target_tls_options(tmp_path) -> None:
    from aiohttp import web
    from wsep_server import create_app
    from wsep_server.local import LocalExecer

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    app = create_app(execer=LocalExecer(grace_period=2.0), log_connections=False)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
    url = f"wss://127.0.0.1:{runner.addresses[0][1]}/"
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    targets = [
        Target("trusted", url, cafile=str(ca_file)),
        Target("insecure", url, insecure=True),
        Target("untrusted", url),
    ]
    try:
        async with Fleet(targets) as fleet:
            results = await fleet.run("true")
    finally:
        await runner.cleanup()
    assert results["trusted"].ok
    assert results["insecure"].ok
    assert "certificate" in str(results["untrusted"].error)
