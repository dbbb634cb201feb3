"""Contributor tasks: ``nox`` runs what CI runs (lint, typing, tests on 3.10–3.13, build)."""

from __future__ import annotations

import os
import pathlib
import shutil
from xml.etree import ElementTree

import nox

ROOT = pathlib.Path(__file__).parent
PACKAGES = ["packages/wsep-protocol", "packages/wsep-server", "packages/wsep-client"]
SRC = [f"{p}/src" for p in PACKAGES]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
ONCE_PYTHON = "3.12"

nox.options.sessions = ["lint", "typing", "js", "tests", "build"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def install_project(session: nox.Session) -> None:
    session.install("-r", "tests/requirements.txt")
    args: list[str] = []
    for package in PACKAGES:
        args += ["-e", package]
    session.install(*args)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite, with coverage; wsep_protocol must stay at 100%.

    ``nox -s tests-3.12 -- tests/<area>`` runs one area. Collecting no tests
    (pytest's exit code 5) is not a failure; then there is no coverage to report.
    The 100% floor applies to whole runs (a subset still prints the report):
    extension modules of wsep_protocol may be covered by tests in other areas.
    """
    install_project(session)
    npm_ci(session, only_if_missing=True)  # xterm.js for the browser tests (tests/web)
    env = {"COVERAGE_FILE": str(ROOT / f".coverage.{session.python}")}
    junit = pathlib.Path(session.create_tmp()) / "junit.xml"
    junit.unlink(missing_ok=True)
    session.run("coverage", "erase", env=env)
    # Slow end-to-end tests (marked `once`) run on one interpreter: they test
    # programs and browsers, not the Python version.
    once = [] if session.python == ONCE_PYTHON else ["-m", "not once"]
    session.run(
        "pytest",
        "--cov",
        "--cov-report=",
        f"--junitxml={junit}",
        *once,
        *session.posargs,
        env=env,
        success_codes=[0, 5],
    )
    if junit.exists() and _tests_run(junit) == 0:
        session.log("no tests collected: nothing to report")
        return
    paths = [a for a in session.posargs if (ROOT / a.split("::")[0]).exists()]
    session.run(
        "coverage",
        "report",
        "--include=*/wsep_protocol/*",
        *([] if paths else ["--fail-under=100"]),
        env=env,
        # A run of some paths only informs; it may not touch wsep_protocol at all
        # (coverage then says "No data to report" and exits 1).
        success_codes=[0, 1] if paths else [0],
    )


def _tests_run(junit: pathlib.Path) -> int:
    """How many tests a JUnit XML report says ran (0 when pytest collected none)."""
    root = ElementTree.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return sum(int(suite.get("tests", "0")) for suite in suites)


WEB = ROOT / "packages" / "wsep-server" / "web"


def npm_ci(session: nox.Session, *, only_if_missing: bool = False) -> None:
    """Install the web terminal's npm dependencies (xterm.js) from the lock file."""
    if only_if_missing and (WEB / "node_modules" / "@xterm" / "xterm" / "package.json").exists():
        return
    session.run(
        "npm", "ci", "--prefix", str(WEB), "--no-audit", "--no-fund", "--ignore-scripts",
        external=True,
    )  # fmt: skip


@nox.session(python=False)
def js(session: nox.Session) -> None:
    """The JS client's unit tests (node's built-in runner), after `npm ci`."""
    npm_ci(session)
    session.run("node", "--test", "tests/js/", external=True)


@nox.session(python="3.12")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.12")
def typing(session: nox.Session) -> None:
    session.install("mypy")
    install_project(session)
    session.run("mypy", "--strict", *SRC)


@nox.session(python="3.12")
def build(session: nox.Session) -> None:
    """Wheels and sdists of the three packages, checked and installed into a fresh venv."""
    session.install("build", "twine")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(dist), package)
    session.run("twine", "check", "--strict", *map(str, sorted(dist.iterdir())))
    venv = pathlib.Path(session.create_tmp()) / "wheel-venv"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    wheels = [str(p) for p in sorted(dist.glob("*.whl"))]
    session.run(py, "-m", "pip", "install", "--quiet", *wheels, external=True)
    session.run(
        py,
        "-c",
        "import wsep_protocol, wsep_server, wsep_client; print('wheels import fine')",
        external=True,
    )
    session.run(str(venv / "bin" / "wsep-server"), "--help", external=True, silent=True)
    session.run(  # the wheel carries xterm.js for --web (hatch_build.py)
        py, "-c", "from wsep_server.web import find_vendor_dir; print(find_vendor_dir())",
        external=True, env={"WSEP_WEB_VENDOR": ""},
    )  # fmt: skip
    session.run(str(venv / "bin" / "wsep"), "--help", external=True, silent=True)


@nox.session(python="3.12")
def bench(session: nox.Session) -> None:
    """Benchmarks on loopback (not in CI): a table, and JSON under bench-results/.

    Full sizes by default; ``nox -s bench -- --quick`` or ``-- --only latency``
    (see ``python -m bench --help``); ``-- --profile`` adds py-spy flame graphs.
    """
    install_project(session)
    session.install("-r", "bench/requirements.txt")
    if "--profile" in session.posargs:
        session.install("py-spy")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python="3.12")
def bench_smoke(session: nox.Session) -> None:
    """The benchmark suite at its smallest size (tests/bench runs this in CI too)."""
    install_project(session)
    session.install("-r", "bench/requirements.txt")
    session.run("python", "-m", "bench", "--smoke", *session.posargs)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """atheris harnesses under fuzz/ (not in CI): 60 s each; ``-- -max_total_time=600``.

    Python 3.11: atheris publishes wheels for it (other versions build from source
    and need clang). Each harness starts from fuzz/seeds/<name> in a scratch corpus.
    """
    session.install("atheris", "-e", "packages/wsep-protocol")
    args = session.posargs or ["-max_total_time=60"]
    for harness in sorted((ROOT / "fuzz").glob("fuzz_*.py")):
        name = harness.stem.removeprefix("fuzz_")
        corpus = pathlib.Path(session.create_tmp()) / "corpus" / name
        corpus.mkdir(parents=True, exist_ok=True)
        seeds = ROOT / "fuzz" / "seeds" / name
        for seed in seeds.glob("*") if seeds.is_dir() else []:
            shutil.copy(seed, corpus / seed.name)
        session.run("python", str(harness), *args, str(corpus))


@nox.session(python="3.12")
def reliability_full(session: nox.Session) -> None:
    """tests/reliability at full size (not in CI): 10,000 nothing-lost runs up to 10 MB,
    1,000 clients x 100 commands, 100 SIGKILLs, 10,000 dropped connections.

    Figures are appended to reliability-results/figures.jsonl;
    ``-- tests/reliability/test_load.py`` runs one part.
    """
    install_project(session)
    out = ROOT / "reliability-results"
    out.mkdir(exist_ok=True)
    env = {"WSEP_FULL": "1", "WSEP_RELIABILITY_REPORT": str(out / "figures.jsonl")}
    args = session.posargs or ["tests/reliability"]
    session.run("pytest", "-p", "no:cacheprovider", *args, env=env)


@nox.session(python="3.12")
def soak(session: nox.Session) -> None:
    """30 minutes of mixed load on a real server (not in CI); RSS and fd slopes reported.

    ``nox -s soak -- --duration 300`` for a shorter run; JSON under soak-results/.
    """
    install_project(session)
    session.run("python", "soak/soak.py", *session.posargs)


if os.environ.get("CI"):
    nox.options.reuse_existing_virtualenvs = False
