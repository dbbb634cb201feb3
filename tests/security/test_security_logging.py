"""Log lines an attacker shapes: no forged lines, no credentials, in text and JSON alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from support.security import attempt, raw_http, start_message
from support.wire import port_of

TOKEN = "logged-token-0123456789abcdef"
SECRETS = ("sekrit-one", "sekrit-two", "sekrit-three", "sekrit-four", "sekrit-five")


async def test_control_characters_cannot_forge_text_log_lines(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process("--log-format", "text", env={"WSEP_TOKEN": TOKEN})
    port = port_of(srv.url)
    # Before authentication: the refusal logs the (decoded) path.
    forged_path = "/x%0A2026-01-01%2000:00:00,000%20INFO%20wsep_server:%20FORGED-PATH%1B[2J%0D"
    status, _ = await raw_http(port, f"GET {forged_path} HTTP/1.1\nHost: 127.0.0.1:{port}")
    assert status == 401
    # After it: the session line carries the working directory.
    out = await attempt(
        srv.url,
        start_message("true", working_dir="/nonexistent\nFORGED-CWD\u2028\x85"),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert out.close_code is not None
    srv.stop()
    log = srv.output()
    lines = log.splitlines()
    assert not [line for line in lines if "FORGED" in line and not line.startswith("20")], log
    assert not any(line.startswith(("2026-01-01", "FORGED")) for line in lines), log
    for raw in ("\x1b", "\r", "\u2028", "\x85"):
        assert raw not in log
    assert "/x\\n2026-01-01 00:00:00,000 INFO wsep_server: FORGED-PATH\\x1b[2J\\r" in log
    assert "FORGED-CWD" in log  # the session line is there, escaped
    assert "/nonexistent\\nFORGED-CWD\\u2028\\x85" in log


async def test_json_log_redacts_credentials_like_text(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process("--log-format", "json", env={"WSEP_TOKEN": TOKEN})
    port = port_of(srv.url)
    # Credentials in what a client sends: argv, working directory, the path.
    args = (
        "Bearer sekrit-one",
        "https://h.example/?a=1&tok%65n=sekrit-two",
        "wsep.token.sekrit-three",
        "/?token=sekrit-four",
    )
    out = await attempt(
        srv.url,
        start_message("echo", *args, working_dir="/tmp/Authorization: Basic sekrit-five"),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert out.close_code is not None
    status, _ = await raw_http(
        port, f"GET /?tok%65n={TOKEN} HTTP/1.1\nHost: 127.0.0.1:{port}\nAuthorization: Bearer x"
    )
    assert status == 401
    srv.stop()
    log = srv.output()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(r.get("msg") == "session" for r in records), log
    for secret in (*SECRETS, TOKEN):
        assert secret not in log, (secret, log)
    assert "[redacted]" in log


def test_one_scrubber_for_every_spelling() -> None:
    from wsep_server.auth import scrub
    from wsep_server.auth.scrub import clean_log_value, escape_controls

    assert scrub("/?tok%65n=abc&x=1") == "/?tok%65n=[redacted]&x=1"
    assert scrub("/?%74oken=abc") == "/?%74oken=[redacted]"
    assert scrub("/?tok%2565n=abc") == "/?tok%2565n=[redacted]"
    assert scrub("/?access_token=abc") == "/?access_token=[redacted]"
    assert scrub("/?tokens=abc&notoken=1") == "/?tokens=abc&notoken=1"
    assert scrub("Authorization: Negotiate abc") == "Authorization: Negotiate [redacted]"
    assert scrub("authorization=abc") == "authorization=[redacted]"
    assert scrub("X-Wsep-Proxy-Secret: abc") == "X-Wsep-Proxy-Secret: [redacted]"
    assert escape_controls("a\nb\tc\x00\x7f\x9b") == "a\\nb\\tc\\x00\\x7f\\x9b"
    assert clean_log_value({"argv": ["Bearer abc", "x\ny"], "n": 1}) == {
        "argv": ["Bearer [redacted]", "x\\ny"],
        "n": 1,
    }
