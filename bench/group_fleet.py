"""Fleet: one command on many targets through one client (``wsep_client.Fleet``).

``true`` on 1, 10 and 50 targets (wall time, and per target), and
``head -c`` streamed from 10 targets at once (aggregate MiB/s); baselines are
the same on one target, measured in the same rounds. The targets share up to
``MAX_SERVERS`` server processes round robin (50 Python servers would not fit
this 2-core machine): the figures show the client's fan-out cost.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .config import MiB

if TYPE_CHECKING:
    from .harness import Harness

__all__ = ["run"]

MAX_SERVERS = 10
#: preset -> (target counts for `true`, targets streaming at once, bytes each, runs of `true`)
SIZES = {
    "full": ((10, 50), 10, 100 * MiB, 20),
    "quick": ((10, 50), 10, 16 * MiB, 5),
    "smoke": ((3,), 3, 1 * MiB, 2),
}


def run(h: Harness) -> None:
    from .harness import Job

    counts, streams, size, repeat = SIZES.get(h.cfg.preset, SIZES["full"])
    one = h.figure(
        "baseline.fleet_true.1",
        "baseline",
        f"Fleet.run('true') on 1 target (p50 of {repeat})",
        "ms",
        "lower",
    )
    walls = {
        n: h.figure(
            f"fleet.true.{n}",
            "fleet",
            f"Fleet.run('true') on {n} targets at once, wall time (p50 of {repeat})",
            "ms",
            "lower",
            baseline=one,
        )
        for n in counts
    }
    per_target = {
        n: h.figure(
            f"fleet.true.{n}.per_target",
            "fleet",
            f"the same, wall time / {n} targets",
            "ms",
            "lower",
            baseline=one,
        )
        for n in counts
    }
    mib = size / MiB
    stream_one = h.figure(
        "baseline.fleet_stream.1",
        "baseline",
        f"{mib:g} MiB streamed from 1 target (Fleet.stream, chunks), count checked",
        "MiB/s",
        "higher",
    )
    stream_many = h.figure(
        f"fleet.stream.{streams}",
        "fleet",
        f"{mib:g} MiB from each of {streams} targets at once, aggregate, counts checked",
        "MiB/s",
        "higher",
        baseline=stream_one,
    )
    every = [one, *walls.values(), *per_target.values(), stream_one, stream_many]

    def body() -> None:
        servers = min(MAX_SERVERS, max((*counts, streams)))
        with contextlib.ExitStack() as stack:
            urls = [stack.enter_context(h.server()).url for _ in range(servers)]

            def true_on(n: int) -> None:
                ms = h.worker("fleet_true", url=",".join(urls), count=n, repeat=repeat)["ms"]
                if n == 1:
                    one.samples.append(ms)
                else:
                    walls[n].samples.append(ms)
                    per_target[n].samples.append(ms / n)
                    per_target[n].context["servers"] = min(n, servers)

            def stream_from(n: int) -> None:
                figure = stream_one if n == 1 else stream_many
                figure.samples.append(
                    h.worker("fleet_stream", url=",".join(urls), count=n, size=size)["mib_s"]
                )

            jobs = [Job([one], lambda i: true_on(1))]
            jobs += [Job([walls[n], per_target[n]], lambda i, n=n: true_on(n)) for n in counts]
            jobs += [Job([stream_one], lambda i: stream_from(1))]
            jobs += [Job([stream_many], lambda i: stream_from(streams))]
            h.rounds(jobs, h.cfg.latency_runs)

    h.attempt(every, body, keep_measured=True)
