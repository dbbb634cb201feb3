from __future__ import annotations

import wsep_protocol as wp


def test_exit_code_bytes_match_go() -> None:
    message = wp.ExitCode.from_status(wp.ExitStatus(3))
    assert wp.encode(message) == b'{"type":"exit_code","exit_code":3,"error":"exit status 3"}\n'
