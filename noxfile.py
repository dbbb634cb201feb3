"""Contributor tasks: ``nox`` runs what CI runs (lint, typing, tests on 3.10–3.13, build)."""

from __future__ import annotations

import os
import pathlib
import shutil

import nox

ROOT = pathlib.Path(__file__).parent
PACKAGES = ["packages/wsep-protocol", "packages/wsep-server", "packages/wsep-client"]
SRC = [f"{p}/src" for p in PACKAGES]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["lint", "typing", "tests", "build"]
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
    """The test suite, with coverage; wsep_protocol must stay at 100%."""
    install_project(session)
    session.run("coverage", "erase")
    session.run(
        "pytest",
        "--cov",
        "--cov-report=",
        *session.posargs,
        env={"COVERAGE_FILE": str(ROOT / f".coverage.{session.python}")},
    )
    session.run(
        "coverage",
        "report",
        "--include=*/wsep_protocol/*",
        "--fail-under=100",
        env={"COVERAGE_FILE": str(ROOT / f".coverage.{session.python}")},
    )


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
    session.run(str(venv / "bin" / "wsep"), "--help", external=True, silent=True)


if os.environ.get("CI"):
    nox.options.reuse_existing_virtualenvs = False
