"""atheris harness: the state machine, fed a fuzzed sequence of sends and receives, raises
nothing but ``wsep_protocol.WsepError`` and its state only moves forward.

    python fuzz/fuzz_connection.py -max_total_time=60 [corpus_dir]
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]
import wsep_protocol as wp

__all__ = ["test_one_input"]

ORDER = list(wp.ConnectionState)
SEEDS: list[wp.Message] = [
    wp.Start(wp.Command("sh", ("-c", "true"), stdin=True)),
    wp.Start(wp.Command("sh", tty=True, rows=24, cols=80)),
    wp.Stdin(b"data"),
    wp.CloseStdin(),
    wp.Resize(24, 80),
    wp.Signal("SIGTERM"),
    wp.Pid(42),
    wp.Stdout(b"out"),
    wp.Stderr(b"err"),
    wp.ExitCode(0),
    wp.ExitCode(-1, "signal: killed", "SIGKILL", False),
    wp.Error("protocol_violation", "nope", 1002),
]


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    role = wp.Role.SERVER if fdp.ConsumeBool() else wp.Role.CLIENT
    version = wp.ProtocolVersion.V2 if fdp.ConsumeBool() else wp.ProtocolVersion.V1
    conn = wp.Connection(role, version, max_receive_size=fdp.ConsumeIntInRange(16, 4096))
    for _ in range(fdp.ConsumeIntInRange(0, 30)):
        if fdp.remaining_bytes() == 0:
            break
        before = conn.state
        action = fdp.ConsumeIntInRange(0, 3)
        try:
            if action == 0:
                message = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
                out = conn.send(message)
                assert wp.decode(out) == message
            elif action == 1:
                seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
                conn.receive(wp.encode(seed))
            elif action == 2:
                wire = bytearray(wp.encode(SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]))
                for _ in range(fdp.ConsumeIntInRange(0, 4)):
                    if wire:
                        at = fdp.ConsumeIntInRange(0, len(wire) - 1)
                        wire[at] = fdp.ConsumeIntInRange(0, 255)
                conn.receive(bytes(wire))
            else:
                conn.receive(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)))
        except wp.WsepError:
            pass
        assert ORDER.index(conn.state) >= ORDER.index(before), (before, conn.state)


def main() -> None:
    # The editable install's import hook hides modules from instrument_imports().
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
