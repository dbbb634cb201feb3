"""atheris harness: ``wsep_protocol.decode`` raises nothing but the protocol's own errors.

    python fuzz/fuzz_decode.py -max_total_time=60 [corpus_dir]
    nox -s fuzz            # every harness, 60 s each (not in CI)

Whatever decodes must encode back to something that decodes to the same message.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]
import wsep_protocol as wp

__all__ = ["test_one_input"]


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    as_text = fdp.ConsumeBool()
    max_size = fdp.ConsumeIntInRange(0, 4096) if fdp.ConsumeBool() else None
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    payload: bytes | str = raw.decode("utf-8", "surrogateescape") if as_text else raw
    try:
        message = wp.decode(payload, max_size=max_size, max_header_size=1024)
    except (wp.MalformedMessage, wp.MessageTooBig):
        return
    if isinstance(message, wp.UnknownMessage):
        return
    try:
        again = wp.encode(message)
    except (ValueError, wp.WsepError):
        return  # e.g. a body that cannot be re-framed; decoding itself was fine
    assert wp.decode(again) == message, (raw, message)


def main() -> None:
    # The editable install's import hook hides modules from instrument_imports().
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
