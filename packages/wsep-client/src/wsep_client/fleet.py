"""Fleet runs: one command on many servers at once, each target's outcome a value.

::

    inventory = Inventory.load("hosts.toml").select("web")
    async with Fleet(inventory, concurrency=32, timeout=60) as fleet:
        results = await fleet.run("uptime")
        for r in results.values():
            print(r.target.name, r.returncode if r.error is None else r.error)

        async with fleet.stream("journalctl", "-f", timeout=10) as lines:
            async for target, stream, line in lines:
                print(target.name, stream, line.decode().rstrip())

One ``aiohttp.ClientSession`` carries every connection (its pool sized for
the fan-out); at most ``concurrency`` targets run at once. A target that
cannot be reached, refuses the token, cannot start the command, runs out of
time or drops the connection gets that error as its result, and the others go
on (``fail_fast=True`` ends them instead). Leaving a run early — an
exception, a cancellation such as Ctrl-C, ``fail_fast`` — closes every
connection, and the servers end the processes they ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from wsep_protocol import Command, ProtocolVersion

from .errors import Aborted, ClientError, ConnectError, ConnectionLost, ProcessTimeout
from .execer import RemoteExecer, build_command, http_session_argument
from .fleet_io import FleetStream, Input, Line, StdinFanout, cancel, pieces
from .inventory import Inventory, Target
from .process import ExecerProcess
from .result import CompletedProcess
from .streams import RemoteStreamReader

__all__ = ["Fleet", "FleetResults", "FleetStream", "Line", "TargetResult"]

_OnOutput = Callable[[Target, str, bytes], Awaitable[None]]


@dataclass(frozen=True)
class TargetResult:
    """One target's outcome: a finished process, or the error that prevented it.

    ``result`` is set for every process that ran (also a timed-out one, with
    the output it produced and ``returncode`` None); ``error`` is None when the
    process ran to its exit status.
    """

    target: Target
    result: CompletedProcess | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.returncode == 0

    @property
    def returncode(self) -> int | None:
        return None if self.error is not None or self.result is None else self.result.returncode

    @property
    def unreachable(self) -> bool:
        """No answer from the server: not connected, refused, or the connection dropped."""
        return isinstance(self.error, ConnectError | ConnectionLost)


class FleetResults(Mapping[str, TargetResult]):
    """Every target's :class:`TargetResult` by name, in inventory order."""

    def __init__(self, results: Iterable[TargetResult]) -> None:
        self._by_name = {r.target.name: r for r in results}

    def __getitem__(self, name: str) -> TargetResult:
        return self._by_name[name]

    def __iter__(self) -> Any:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"FleetResults(ok={len(self.succeeded)}, failed={len(self.failed)})"

    @property
    def succeeded(self) -> list[TargetResult]:
        return [r for r in self._by_name.values() if r.ok]

    @property
    def failed(self) -> list[TargetResult]:
        """Targets that did not exit 0: a status, or an error."""
        return [r for r in self._by_name.values() if not r.ok]

    @property
    def unreachable(self) -> list[TargetResult]:
        return [r for r in self._by_name.values() if r.unreachable]


class Fleet:
    """Runs commands on many targets (an :class:`Inventory` or any iterable of them).

    ``concurrency`` bounds the targets running at once; ``timeout`` (seconds,
    per target, from its connect to its exit) is the default for each run;
    ``connect_timeout`` bounds each handshake. ``http_session`` (an
    ``aiohttp.ClientSession``; ``session=`` is its deprecated name) is used and
    left open when given (then its connector's limit is the caller's business).
    """

    def __init__(
        self,
        targets: Inventory | Iterable[Target],
        *,
        concurrency: int = 64,
        timeout: float | None = None,
        connect_timeout: float = 30.0,
        version: ProtocolVersion = ProtocolVersion.V2,
        http_session: aiohttp.ClientSession | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.targets = targets if isinstance(targets, Inventory) else Inventory(targets)
        self.concurrency = concurrency
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.version = version
        http_session = http_session_argument(http_session, session)
        self._http_session = http_session
        self._own_http_session = http_session is None
        self._execers: dict[str, RemoteExecer] = {}

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_http_session and self._http_session is not None:
            http_session, self._http_session = self._http_session, None
            await http_session.close()
        self._execers.clear()

    def _get_http_session(self) -> aiohttp.ClientSession:
        if self._http_session is None:
            # One connection per running process, plus room for a closing one each.
            limit = 2 * min(self.concurrency, max(1, len(self.targets)))
            connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
            self._http_session = aiohttp.ClientSession(connector=connector)
        return self._http_session

    def execer(self, target: Target) -> RemoteExecer:
        """The execer for ``target`` (on the fleet's shared http_session)."""
        execer = self._execers.get(target.name)
        if execer is None:
            execer = RemoteExecer(
                target.url,
                http_session=self._get_http_session(),
                token=target.read_token(),
                ssl=target.ssl(),
                version=self.version,
                connect_timeout=self.connect_timeout,
            )
            self._execers[target.name] = execer
        return execer

    async def run(
        self,
        cmd: str,
        *args: str,
        input: Input = None,
        timeout: float | None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        fail_fast: bool = False,
    ) -> FleetResults:
        """Run ``cmd args...`` on every target; collect each one's output and status.

        ``input`` goes to every target's stdin (as for :meth:`stream`).
        ``fail_fast`` ends the run at the first target that does not exit 0:
        the others' results are :class:`~wsep_client.errors.Aborted`.
        """
        self._check_input(input)
        command = build_command(cmd, *args, stdin=input is not None, env=env, cwd=cwd)
        return await self._run_all(command, input, timeout, fail_fast, None, collect=True)

    def streams_stdin(self) -> bool:
        """Whether an async iterable ``input`` can go to every target as it comes:
        it needs all of them running at once."""
        return self.concurrency >= len(self.targets)

    def _check_input(self, input: Input) -> None:
        if input is not None and not isinstance(input, bytes) and not self.streams_stdin():
            raise ValueError(
                "streamed stdin goes to all targets at once: "
                f"concurrency {self.concurrency} < {len(self.targets)} targets"
            )

    def stream(
        self,
        cmd: str,
        *args: str,
        input: Input = None,
        timeout: float | None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        lines: bool = True,
        fail_fast: bool = False,
    ) -> FleetStream:
        """Run ``cmd args...`` everywhere; ``async with`` it to iterate :class:`Line` s.

        Output arrives as it comes, split into lines (``lines=False``: as
        received). It is not also collected: the results (``FleetStream.results``
        once the iteration ends) hold statuses and errors with empty output.
        ``input`` is bytes for every stdin, or an async iterable whose chunks
        are sent to every target as they come; the latter needs all targets
        running at once (``concurrency`` at least the number of targets).
        """
        self._check_input(input)
        command = build_command(cmd, *args, stdin=input is not None, env=env, cwd=cwd)
        return FleetStream(self, command, input, timeout, lines, fail_fast)

    async def _run_all(
        self,
        command: Command,
        input: Input,
        timeout: float | None,
        fail_fast: bool,
        on_output: _OnOutput | None,
        *,
        collect: bool,
        lines: bool = True,
    ) -> FleetResults:
        timeout = self.timeout if timeout is None else timeout
        targets = list(self.targets)
        limit = asyncio.Semaphore(self.concurrency)
        fanout = StdinFanout(input, len(targets)) if input is not None else None
        results: dict[str, TargetResult] = {}

        async def one(target: Target) -> None:
            async with limit:
                try:
                    result = await self._one(
                        target, command, fanout, timeout, on_output, collect, lines
                    )
                except _Failed as failed:
                    results[target.name] = TargetResult(target, failed.result, failed.error)
                except Exception as exc:  # a value, never the end of the others
                    results[target.name] = TargetResult(target, error=exc)
                else:
                    results[target.name] = TargetResult(target, result)
            if fail_fast and not results[target.name].ok:
                raise _FailFast

        tasks = [asyncio.ensure_future(one(t)) for t in targets]
        feeder = asyncio.ensure_future(fanout.feed()) if fanout is not None else None
        try:
            await _wait_all(tasks)
        finally:
            if feeder is not None:
                await cancel(feeder)
        for target in targets:
            results.setdefault(
                target.name, TargetResult(target, error=Aborted(f"{target.name}: not run"))
            )
        return FleetResults(results[t.name] for t in targets)

    async def _one(
        self,
        target: Target,
        command: Command,
        fanout: StdinFanout | None,
        timeout: float | None,
        on_output: _OnOutput | None,
        collect: bool,
        lines: bool,
    ) -> CompletedProcess:
        out: list[bytes] = []
        err: list[bytes] = []
        process: ExecerProcess | None = None

        async def drain(reader: RemoteStreamReader, stream: str, into: list[bytes]) -> None:
            if on_output is None:
                await _read_into(reader, into)
            else:
                async for piece in pieces(reader, lines):
                    await on_output(target, stream, piece)

        async def body() -> CompletedProcess:
            nonlocal process
            try:
                process = await self.execer(target).start(command)
            finally:
                if fanout is not None:
                    fanout.started(process)
            await asyncio.gather(
                drain(process.stdout, "stdout", out), drain(process.stderr, "stderr", err)
            )
            status = await process.wait()
            return CompletedProcess.from_status(
                command.argv, status, b"".join(out), b"".join(err), pid=process.pid
            )

        try:
            return await asyncio.wait_for(body(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            if timeout is None:
                raise
            pid = process.pid if process is not None else 0
            partial = CompletedProcess.from_status(
                command.argv, None, b"".join(out), b"".join(err), pid=pid
            )
            raise _Failed(partial, ProcessTimeout(partial, timeout)) from None
        except ConnectionLost as exc:
            if process is None:
                raise
            partial = CompletedProcess.from_status(
                command.argv, None, b"".join(out), b"".join(err), pid=process.pid
            )
            raise _Failed(partial, exc) from None
        finally:
            if process is not None:
                if fanout is not None:
                    fanout.finished(process)
                await process.close()


class _Failed(Exception):
    """A target's process ran but did not finish: its partial result and the error."""

    def __init__(self, result: CompletedProcess, error: ClientError) -> None:
        self.result = result
        self.error = error


class _FailFast(Exception):
    pass


async def _read_into(reader: RemoteStreamReader, into: list[bytes]) -> None:
    while chunk := await reader.read(1 << 20):
        into.append(chunk)


async def _wait_all(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Wait for every task; on fail-fast, an error or our cancellation, end them all."""
    try:
        for future in asyncio.as_completed(tasks):
            try:
                await future
            except _FailFast:
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
