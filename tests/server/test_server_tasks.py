"""Background tasks: owned until done, failures logged, and a cancellation stays with
the task it was aimed at (waiting for a cancelled task never swallows the waiter's own).
Real tasks throughout; conditions, not sleeps."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from wsep_server.recording import AsciicastEncoder, Recorder
from wsep_server.tasks import OwnedTasks, cancel_and_settle, settle

_log = logging.getLogger("tests.tasks")
WAIT = 30


async def _forever() -> None:
    await asyncio.Event().wait()


async def _broken() -> None:
    raise RuntimeError("a bug in a background task")


async def test_settle_gives_the_waiter_its_own_cancellation() -> None:
    """The old ``suppress(CancelledError): await task`` returned normally here."""
    child = asyncio.create_task(_forever())
    waiting = asyncio.Event()

    async def waiter() -> str:
        waiting.set()
        await settle(child, _log, "child")
        return "returned"

    task = asyncio.create_task(waiter())
    await asyncio.wait_for(waiting.wait(), WAIT)
    await asyncio.sleep(0)  # into settle's wait
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not child.done()  # the waiter's cancellation is not the child's
    await cancel_and_settle(child, _log, "child")
    assert child.cancelled()


async def test_settle_contains_the_childs_cancellation_and_logs_its_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = asyncio.create_task(_forever())
    await cancel_and_settle(child, _log, "forever")  # returns: the child's cancellation is its own
    broken = asyncio.create_task(_broken())
    with caplog.at_level(logging.ERROR, logger="tests.tasks"):
        await settle(broken, _log, "broken")
    [record] = caplog.records
    assert record.getMessage() == "broken failed"
    assert record.exc_info is not None
    assert "a bug in a background task" in str(record.exc_info[1])


async def test_owned_tasks_log_failures_and_are_cancelled_on_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = OwnedTasks(_log, "owner")
    with caplog.at_level(logging.ERROR, logger="tests.tasks"):
        failing = tasks.spawn(_broken(), "broken job")
        assert failing is not None
        await asyncio.wait((failing,))
        await asyncio.sleep(0)  # the done callback runs
    assert [r.getMessage() for r in caplog.records] == ["owner: broken job failed"]
    assert caplog.records[0].exc_info is not None
    running = tasks.spawn(_forever(), "forever")
    assert running is not None
    assert len(tasks) == 1  # held here: not only by the loop's weak reference
    await asyncio.wait_for(tasks.close(), WAIT)
    assert running.cancelled()
    assert len(tasks) == 0
    assert tasks.spawn(_forever(), "late") is None  # the owner is gone: nothing starts
    assert len(tasks) == 0


async def test_closing_a_recorder_keeps_the_callers_cancellation(tmp_path: Path) -> None:
    """Recorder.close() waited for its writer under ``suppress(CancelledError)``: a
    cancelled caller went on as if nothing had happened."""
    encoder = AsciicastEncoder()
    header = encoder.header(width=80, height=24, timestamp=0.0)
    recorder = Recorder(tmp_path / "r.cast", header, encoder, queue=4096)
    for i in range(2000):  # the writer has work left when close() starts waiting
        await recorder.output(b"line %d\r\n" % i)
    closer = asyncio.create_task(recorder.close())
    await asyncio.sleep(0)  # closer is now waiting for the writer
    if recorder._task.done():  # pragma: no cover - the writer was faster than one step
        pytest.skip("the writer finished before close() waited")
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    await asyncio.wait_for(recorder.close(), WAIT)  # the writer was not cancelled: all written
    assert (tmp_path / "r.cast").read_text().count("line ") == 2000
