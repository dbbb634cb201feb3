"""Optional execer and process capabilities are typed protocols, recognised by ``isinstance``."""

from __future__ import annotations

import pytest
import wsep_protocol as wp


class Reader:
    async def read(self, n: int = -1) -> bytes:
        return b""


class FramingReader(Reader):
    async def read_message(self, header: bytes, max_size: int) -> bytes:
        return b""


class Writer:
    def write(self, data: wp.Buffer) -> None:
        pass

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass


class HintingWriter(Writer):
    @property
    def needs_drain(self) -> bool:
        return False


class Execer:
    async def start(self, command: wp.Command) -> wp.Process:
        raise wp.StartError("not here", kind=wp.StartErrorKind.OTHER)


class ResolvingExecer(Execer):
    def resolve(self, command: wp.Command) -> str:
        return "/bin/true"


class ClosableExecer(Execer):
    async def close(self) -> None:
        pass


class FullExecer(ResolvingExecer, ClosableExecer):
    pass


@pytest.mark.parametrize(
    ("capability", "with_it", "without_it"),
    [
        (wp.FramedReader, FramingReader(), Reader()),
        (wp.DrainAwareWriter, HintingWriter(), Writer()),
        (wp.ResolvingExecer, ResolvingExecer(), Execer()),
        (wp.ClosableExecer, ClosableExecer(), Execer()),
    ],
)
def test_capability_is_recognised_exactly_when_present(
    capability: type, with_it: object, without_it: object
) -> None:
    assert isinstance(with_it, capability)
    assert not isinstance(without_it, capability)


def test_capabilities_need_the_base_protocol_too() -> None:
    """A capability extends its base: ``read_message`` alone does not make a reader."""

    class OnlyReadMessage:
        async def read_message(self, header: bytes, max_size: int) -> bytes:
            return b""

    class OnlyResolve:
        def resolve(self, command: wp.Command) -> str:
            return "/bin/true"

    assert not isinstance(OnlyReadMessage(), wp.FramedReader)
    assert not isinstance(OnlyResolve(), wp.ResolvingExecer)


def test_an_execer_may_have_several_capabilities() -> None:
    execer = FullExecer()
    assert isinstance(execer, wp.Execer)
    assert isinstance(execer, wp.ResolvingExecer)
    assert isinstance(execer, wp.ClosableExecer)


def test_capabilities_are_exported() -> None:
    for name in ("FramedReader", "DrainAwareWriter", "ResolvingExecer", "ClosableExecer"):
        assert name in wp.__all__
