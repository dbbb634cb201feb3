"""The policy's argument rules, environment keys and the child environment, as units."""

from __future__ import annotations

import os
import pwd
from typing import Any

import pytest
from wsep_protocol import Command, PolicyViolation
from wsep_server.local.environ import EnvironmentPlan, child_base, clean_environment, scrub
from wsep_server.policy import ArgumentRule, check_arguments, parse_policy


def _rules(section: dict[str, Any]) -> Any:
    rules = parse_policy({"default": section}).default
    assert rules is not None
    return rules


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["status"], None),
        (["-c", "alias.x=!id", "x"], "'-c'"),
        (["-calias.x=!id", "x"], "'-calias"),
        (["--config-env=core.pager=X", "log"], "--config-env"),
        (["log", "--exec-path=/tmp"], "--exec-path"),
    ],
)
def test_git_rules(args: list[str], refused: str | None) -> None:
    rules = _rules(
        {"arguments": {"/usr/bin/git": {"deny": ["-c", "-c*", "--config-env*", "--exec-path*"]}}}
    )
    command = Command("/usr/bin/git", tuple(args))
    if refused is None:
        check_arguments(rules, command, "/usr/bin/git", "/usr/bin/git")
        return
    with pytest.raises(PolicyViolation, match=refused):
        check_arguments(rules, command, "/usr/bin/git", "/usr/bin/git")


def test_rules_apply_to_links_and_patterns_and_only_there() -> None:
    rules = _rules({"arguments": {"/usr/bin/*": {"deny_line": ["re:.*--checkpoint-action.*"]}}})
    bad = Command("tar", ("-c", "--checkpoint-action=exec=id"))
    with pytest.raises(PolicyViolation, match="these arguments"):
        check_arguments(rules, bad, "/tmp/link-to-tar", "/usr/bin/tar")  # resolved path matches
    check_arguments(rules, bad, "/opt/tar", "/opt/tar")  # a command no rule names


def test_allow_lists_are_strict() -> None:
    rule = ArgumentRule("/usr/bin/ls", allow=["-l", "-a", "re:/home/[a-z]+"])
    assert rule.refusal(["-l", "/home/alice"]) is None
    assert rule.refusal(["-l", "/etc"]) == "argument '/etc'"
    line = ArgumentRule("/usr/bin/ls", allow_line=["-l *"])
    assert line.refusal(["-l", "x"]) is None
    assert line.refusal(["-a"]) == "these arguments"


def test_identity_rules_add_to_the_defaults() -> None:
    policy = parse_policy(
        {
            "default": {"arguments": {"/usr/bin/git": {"deny": ["-c"]}}},
            "identity": {"bob": {"arguments": {"/usr/bin/tar": {"deny": ["-I*"]}}}},
        }
    )
    bob = policy.rules_for("bob")
    assert bob is not None
    assert [r.command for r in bob.arguments] == ["/usr/bin/git", "/usr/bin/tar"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"arguments": ["x"]}, "table of commands"),
        ({"arguments": {"git": {"deny": []}}}, "must be absolute"),
        ({"arguments": {"/usr/bin/git": {"refuse": []}}}, "takes only"),
        ({"arguments": {"/usr/bin/git": {"deny": "-c"}}}, "list of strings"),
        ({"arguments": {"/usr/bin/git": {"deny": ["re:("]}}}, "arguments for /usr/bin/git"),
        ({"environment": "empty"}, "inherit"),
        ({"env_passthrough": "LANG"}, "list of strings"),
        ({"record_pipes": "yes"}, "true or false"),
    ],
)
def test_bad_sections_are_clear_errors(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_policy({"default": section})


def test_scrub_removes_the_servers_settings_and_named_patterns() -> None:
    env = {"WSEP_TOKEN": "t", "WSEP_JWT_KEY": "k", "AWS_SECRET": "s", "PATH": "/bin", "HOME": "/r"}
    assert scrub(env, ["AWS_*"]) == {"PATH": "/bin", "HOME": "/r"}


def test_clean_environment_is_a_login_environment() -> None:
    me = pwd.getpwuid(os.geteuid())
    server = {"LANG": "C.UTF-8", "LC_TIME": "C", "SECRET": "x", "TERM": "screen", "TZ": "UTC"}
    env = clean_environment(os.geteuid(), tty=True, server_env=server)
    assert env["HOME"] == me.pw_dir
    assert env["USER"] == env["LOGNAME"] == me.pw_name
    assert env["SHELL"] == me.pw_shell
    assert env["TERM"] == "screen"
    assert (env["LANG"], env["LC_TIME"], env["TZ"]) == ("C.UTF-8", "C", "UTC")
    assert "SECRET" not in env
    assert "TERM" not in clean_environment(os.geteuid(), tty=False, server_env=server)
    unknown = clean_environment(2**31 - 7, tty=False, server_env={})
    assert unknown["HOME"] == "/"


def test_child_base_scrubs_in_every_mode() -> None:
    server = {"WSEP_TOKEN": "t", "KEEP": "1", "DROP_ME": "x", "LANG": "C"}
    inherit = child_base(None, uid=os.geteuid(), tty=False, scrubbed=["DROP_*"], server_env=server)
    assert inherit == {"KEEP": "1", "LANG": "C"}
    clean = child_base(
        EnvironmentPlan("clean", ("LANG", "WSEP_*")),
        uid=os.geteuid(),
        tty=False,
        server_env=server,
    )
    assert "WSEP_TOKEN" not in clean  # a passthrough pattern cannot bring it back
    assert clean["LANG"] == "C"
