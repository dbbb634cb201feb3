"""``wsep-server`` with only protocol version 1 (the Go wire format), for the benchmarks.

The ``wsep-server`` CLI has no flag for that, and ``create_app(versions=(V1,))``
is how the library offers it. To keep every other CLI default (logging,
malloc tuning, signal handling) identical to the v2 server under test, this
runs the CLI's own ``main`` with ``create_app`` bound to ``versions=(V1,)``:
``python -m bench.serve_v1 --port N`` takes the same options as ``wsep-server``.
"""

from __future__ import annotations

import functools
import sys

__all__ = ["main"]


def main(argv: list[str]) -> int:
    import wsep_server.app
    from wsep_protocol import ProtocolVersion
    from wsep_server.__main__ import main as server_main

    wsep_server.app.create_app = functools.partial(
        wsep_server.app.create_app, versions=(ProtocolVersion.V1,)
    )
    return server_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
