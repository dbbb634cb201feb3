"""The thin client's option reader agrees with argparse, or leaves the call to it."""

from __future__ import annotations

import pytest
from wsep_client.__main__ import build_parser
from wsep_client._fast_args import RunArgs, parse_run

FIELDS = ("url", "token", "cacert", "insecure", "v1", "control", "tty", "no_stdin", "id")
FIELDS += ("env", "cwd", "timeout")

READ = [
    ["--", "true"],
    ["true"],
    ["echo", "-n", "x"],
    ["--url", "ws://h:1/", "--token=abc", "--", "sh", "-c", "exit 3"],
    ["-t", "--id", "work", "--", "bash"],
    ["-n", "-e", "A=1", "--env", "B=two words", "--cwd", "/tmp", "--timeout", "2.5", "--", "x"],
    ["--control", "yes", "--v1", "--insecure", "--cacert", "ca.pem", "--", "ls", "--", "-l"],
    ["--tty", "--no-stdin", "--env=C=3", "ls", "-l"],
]

LEFT_TO_ARGPARSE = [
    [],
    ["--"],
    ["--help"],
    ["-tn", "--", "x"],
    ["-eA=1", "--", "x"],
    ["--ur", "ws://h/", "--", "x"],
    ["--timeout", "soon", "--", "x"],
    ["--control", "maybe", "--", "x"],
    ["-e", "novalue", "--", "x"],
    ["--url", "--", "x"],
]


@pytest.mark.parametrize("tokens", READ)
def test_the_same_as_argparse(tokens: list[str]) -> None:
    fast = parse_run(tokens)
    assert isinstance(fast, RunArgs)
    slow = build_parser().parse_args(["run", *tokens])
    argv = list(slow.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    assert fast.argv == argv
    for name in FIELDS:
        assert getattr(fast, name) == getattr(slow, name), name


@pytest.mark.parametrize("tokens", LEFT_TO_ARGPARSE)
def test_anything_unusual_is_left_to_argparse(tokens: list[str]) -> None:
    assert parse_run(tokens) is None
