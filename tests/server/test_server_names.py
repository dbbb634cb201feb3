"""The old names of the connection handler still work, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable

import pytest
from support.wire import run
from wsep_server import ConnectionLogObserver, create_app
from wsep_server.app import HANDLER_KEY
from wsep_server.local import LocalExecer

MakeServer = Callable[..., Awaitable[str]]


def test_session_is_a_deprecated_name_of_the_connection_handler() -> None:
    import wsep_server
    from wsep_server.handler import ConnectionHandler

    with pytest.deprecated_call():
        assert wsep_server.Session is ConnectionHandler
    sys.modules.pop("wsep_server.session", None)
    with pytest.deprecated_call():
        module = importlib.import_module("wsep_server.session")
    assert module.Session is ConnectionHandler


async def test_session_class_is_a_deprecated_keyword_of_create_app(
    make_server: MakeServer,
) -> None:
    from wsep_server import ConnectionHandler

    served: list[ConnectionHandler] = []

    class Counting(ConnectionHandler):
        async def run(self) -> None:
            served.append(self)
            await super().run()

    with pytest.deprecated_call():
        url = await make_server(session_class=Counting)
    result = await run(url, "echo", "hi")
    assert result.stdout == b"hi\n"
    assert len(served) == 1


async def test_handler_class_replaces_the_connection_handler(make_server: MakeServer) -> None:
    from wsep_server import ConnectionHandler, WsepHandler

    class Counting(ConnectionHandler):
        pass

    url = await make_server(handler_class=Counting)
    assert (await run(url, "true")).exit is not None
    handler = WsepHandler(handler_class=Counting)
    assert handler.handler_class is Counting
    assert handler.connections == set()
    with pytest.deprecated_call():
        assert handler.sessions is handler.connections


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("wsep_server", "SessionRecord", "ConnectionRecord"),
        ("wsep_server", "SessionObserver", "ConnectionObserver"),
        ("wsep_server", "SessionLimits", "RunLimits"),
        ("wsep_server", "SessionLogObserver", "ConnectionLogObserver"),
        ("wsep_server.hooks", "SessionRecord", "ConnectionRecord"),
        ("wsep_server.hooks", "SessionLimits", "RunLimits"),
        ("wsep_server.logs", "SessionLogObserver", "ConnectionLogObserver"),
    ],
)
def test_per_connection_hook_names_keep_deprecated_session_aliases(
    module: str, old: str, new: str
) -> None:
    imported = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        assert getattr(imported, old) is getattr(imported, new)
    with pytest.raises(AttributeError):
        _ = importlib.import_module("wsep_server.hooks").SessionNothing


def test_log_sessions_is_a_deprecated_keyword_of_create_app() -> None:
    with pytest.warns(DeprecationWarning, match="log_connections"):
        app = create_app(execer=LocalExecer(), log_sessions=False)
    assert not any(isinstance(o, ConnectionLogObserver) for o in app[HANDLER_KEY].observers)
