"""The audit log, line by line: start and end of every session, no tokens, no stdin."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from support.security import TOKENS, MakeSecure, attempt, auth, make_jwt, start_message, wait_for

ALICE = TOKENS["alice"]
STDIN_SECRET = b"stdin-secret-contents-42\n"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_audit_lines(make_secure_server: MakeSecure, no_leaked_children: None) -> None:
    server = await make_secure_server(audit=True)
    work = str(server.layout.work)
    jwt_token = make_jwt("alice")
    # 1: a session with stdin, the token in the query
    out = await attempt(
        server.url,
        start_message("/usr/bin/cat", stdin=True, working_dir=work),
        params={"token": ALICE},
        stdin=STDIN_SECRET,
    )
    assert out.stdout == STDIN_SECRET
    await server.audit.wait_written(2)  # the end line comes once the processes are all gone
    # 2: refused by the policy (no start line, one end line)
    out = await attempt(
        server.url,
        start_message("/usr/bin/echo", env=["LD_PRELOAD=/x.so"], working_dir=work),
        headers=auth(jwt_token),
    )
    assert out.close_code == 1008
    # 3: a failing command, token as subprotocol, v2
    out = await attempt(
        server.url,
        start_message("/usr/bin/env", "false", working_dir=work),
        protocols=["wsep.v2", f"wsep.token.{jwt_token}"],
    )
    assert out.exit is not None
    await server.audit.wait_written(5)
    await server.audit.close()
    path = server.layout.tmp / "audit.jsonl"
    assert (os.stat(path).st_mode & 0o777) == 0o600
    raw = path.read_text(encoding="utf-8")
    for secret in (ALICE, jwt_token, STDIN_SECRET.decode().strip()):
        assert secret not in raw
    lines = _lines(path)
    assert len(lines) == 5, raw

    start1, end1, end2, start3, end3 = lines
    assert start1["event"] == "start"
    assert start1["identity"] == "alice"
    assert start1["auth"] == {"auth": "token", "via": "query"}
    assert start1["peer"].startswith("127.0.0.1:")
    assert start1["argv"] == ["/usr/bin/cat"]
    assert start1["cwd"] == work
    assert start1["tty"] is False
    assert isinstance(start1["pid"], int)
    assert start1["pid"] == server.execer.pids[0]
    assert start1["started"].endswith("Z")
    assert "ended" not in start1

    assert end1["event"] == "end"
    assert end1["session"] == start1["session"]
    assert end1["exit_code"] == 0
    assert end1["exit"] == "exit status 0"
    assert end1["bytes_in"] == len(STDIN_SECRET)
    assert end1["bytes_out"] == len(STDIN_SECRET)
    assert end1["end_reason"] in ("exited", "client closed")
    assert end1["duration"] >= 0
    assert end1["ended"] >= end1["started"]

    assert end2["event"] == "end"
    assert end2["identity"] == "alice"
    assert end2["auth"] == {"auth": "jwt", "via": "header"}
    assert end2["pid"] is None
    assert end2["exit_code"] is None
    assert end2["end_reason"].startswith("policy: not allowed: environment variable LD_PRELOAD")
    assert end2["close_code"] == 1008

    assert start3["auth"] == {"auth": "jwt", "via": "subprotocol"}
    assert start3["protocol"] == 2
    assert end3["argv"] == ["/usr/bin/env", "false"]
    assert end3["exit_code"] == 1
    assert end3["exit"] == "exit status 1"


async def test_audit_reopens_on_sighup(tmp_path: Path) -> None:
    from wsep_server.audit import AuditLog
    from wsep_server.hooks import ConnectionRecord

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    await log.start()
    log.install_sighup_handler()
    try:
        await log.on_start(ConnectionRecord(id="one", identity=None, peer="127.0.0.1"))
        await log.wait_written(1)
        os.rename(path, tmp_path / "audit.jsonl.1")  # what logrotate does
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: log._reopen)
        await log.on_end(ConnectionRecord(id="two", identity=None, peer="127.0.0.1"))
        await log.wait_written(2)
    finally:
        await log.close()
    assert [x["session"] for x in _lines(tmp_path / "audit.jsonl.1")] == ["one"]
    assert [x["session"] for x in _lines(path)] == ["two"]


async def test_audit_scrubs_token_shaped_argv(tmp_path: Path) -> None:
    from wsep_server.audit import AuditLog
    from wsep_server.hooks import ConnectionRecord

    log = AuditLog(tmp_path / "a.jsonl")
    record = ConnectionRecord(
        id="x",
        identity=None,
        peer="",
        argv=("curl", "-H", "Authorization: Bearer abc123", "u?token=zz"),
    )
    await log.on_start(record)
    await log.wait_written(1)
    await log.close()
    (line,) = _lines(tmp_path / "a.jsonl")
    assert line["argv"] == ["curl", "-H", "Authorization: Bearer [redacted]", "u?token=[redacted]"]
