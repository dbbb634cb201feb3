"""The server and the client take protocol facts from wsep_protocol; older import paths stay."""

from __future__ import annotations

import os

import wsep_protocol as wp


def test_the_older_import_paths_of_the_size_are_the_same_objects() -> None:
    from wsep_server import local
    from wsep_server.sessions import session

    assert (local.DEFAULT_ROWS, local.DEFAULT_COLS) == (wp.DEFAULT_ROWS, wp.DEFAULT_COLS)
    assert (session.DEFAULT_ROWS, session.DEFAULT_COLS) == (wp.DEFAULT_ROWS, wp.DEFAULT_COLS)


def test_error_code_for_is_the_wire_string_of_the_error_code() -> None:
    from wsep_protocol.sessions import NoSuchSession
    from wsep_server.handler import error_code_for

    assert error_code_for(wp.MessageTooBig("x")) == "message_too_big"
    assert error_code_for(NoSuchSession("x")) == "no_such_session"
    assert error_code_for(ValueError("x")) == "internal_error"
    kind = wp.StartErrorKind.USER_SWITCH_DENIED
    assert error_code_for(wp.StartError("x", kind=kind)) == "user_switch_denied"
    assert type(error_code_for(wp.PolicyViolation("x"))) is str


def test_one_tune_malloc_under_every_import_path() -> None:
    import wsep_client
    from wsep_client.tuning import tune_malloc as client_alias
    from wsep_protocol.malloc import tune_malloc
    from wsep_server.local.malloc import tune_malloc as server_alias

    assert client_alias is tune_malloc
    assert server_alias is tune_malloc
    assert wsep_client.tune_malloc is tune_malloc
    assert tune_malloc() is (os.confstr("CS_GNU_LIBC_VERSION") is not None)
