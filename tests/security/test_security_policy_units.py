"""The policy file and its checks on their own (no server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from wsep_protocol import Command, PolicyViolation


def _rules(**table: Any) -> Any:
    from wsep_server.policy import parse_policy

    file = parse_policy({"default": table})
    assert file.default is not None
    return file.default


def test_patterns() -> None:
    from wsep_server.policy import compile_pattern

    star = compile_pattern("/usr/bin/*")
    assert star.match("/usr/bin/ls")
    assert not star.match("/usr/bin/sub/ls")
    deep = compile_pattern("/opt/**")
    assert deep.match("/opt/a/b/c")
    assert compile_pattern("/usr/bin/python3.?").match("/usr/bin/python3.1")
    assert not compile_pattern("/usr/bin/l[s]").match("/usr/bin/ls")  # no character classes


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"defaults": {}}, "unknown section(s): defaults"),
        ({"default": {"command": []}}, "unknown key(s): command"),
        ({"default": {"commands": "ls"}}, "commands must be a list of strings"),
        ({"default": {"commands": ["ls"]}}, "must be an absolute path"),
        ({"default": {"working_dirs": ["tmp"]}}, "must be an absolute path"),
        ({"default": {"tty": "yes"}}, "tty must be true or false"),
        ({"default": {"max_sessions": 0}}, "max_sessions must be positive"),
        ({"default": {"max_sessions": 1.5}}, "max_sessions must be a whole number"),
        ({"default": {"max_duration": True}}, "max_duration must be a number"),
        ({"default": {"uids": ["no-such-user-xyz"]}}, "no such user 'no-such-user-xyz'"),
        ({"default": {"gids": [-1]}}, "out of range"),
        ({"identity": {"alice": []}}, "[identity.alice]: must be a table"),
    ],
)
def test_policy_file_errors(doc: dict[str, Any], message: str) -> None:
    from wsep_server.policy import parse_policy

    with pytest.raises(ValueError) as info:
        parse_policy(doc)
    assert message in str(info.value)


def test_policy_sections_inherit_and_fall_back(tmp_path: Path) -> None:
    from wsep_server.policy import FilePolicy, load_policy_file
    from wsep_server.policy.rules import DEFAULT_ENV_DENY

    path = tmp_path / "p.toml"
    path.write_text(
        '[default]\nmax_sessions = 2\ncommands = ["/usr/bin/*"]\n'
        "[identity.alice]\nmax_duration = 60\n"
        '[identity.root]\nuids = [0, "root"]\n'
    )
    file = load_policy_file(path)
    alice = file.rules_for("alice")
    assert alice is not None
    assert alice.max_sessions == 2  # from [default]
    assert alice.max_duration == 60
    assert alice.commands == ("/usr/bin/*",)
    assert file.rules_for("someone") is file.default
    assert file.rules_for(None) is file.default
    root = file.rules_for("root")
    assert root is not None
    assert root.uids == frozenset({0})
    assert "LD_*" in DEFAULT_ENV_DENY
    path.write_text('[identity.alice]\ncommands = ["/usr/bin/true"]\n')
    strict = FilePolicy.from_file(path)
    with pytest.raises(PolicyViolation, match="identity 'bob' \\(no policy\\)"):
        strict.rules_for(type("I", (), {"name": "bob"})())  # type: ignore[arg-type]
    with pytest.raises(PolicyViolation, match="anonymous requests"):
        strict.rules_for(None)
    path.write_text("[default\n")
    with pytest.raises(ValueError, match=r"p\.toml"):
        load_policy_file(path)


@pytest.mark.parametrize(
    ("table", "env", "denied"),
    [
        ({}, ["LANG=C", "LC_ALL=C", "TERM=xterm", "TZ=UTC", "COLUMNS=80"], None),
        ({}, ["FOO=bar"], "FOO"),  # the built-in list is an allow-list
        ({}, ["GIT_CONFIG_COUNT=1"], "GIT_CONFIG_COUNT"),
        ({}, ["OPENSSL_CONF=/x"], "OPENSSL_CONF"),
        ({}, ["LESSOPEN=|id"], "LESSOPEN"),
        ({}, ["GIT_SSH_COMMAND=id"], "GIT_SSH_COMMAND"),
        ({}, ["TAR_OPTIONS=--checkpoint-action=exec=id"], "TAR_OPTIONS"),
        ({}, ["HOME=/tmp"], "HOME"),
        ({"env_allow": ["FOO"]}, ["FOO=bar", "LANG=C"], None),  # extends the built-in list
        ({}, ["LD_PRELOAD=/x.so"], "LD_PRELOAD"),
        ({}, ["LD_LIBRARY_PATH=/x"], "LD_LIBRARY_PATH"),
        ({}, ["PATH=/tmp"], "PATH"),
        ({}, ["BASH_ENV=/tmp/x"], "BASH_ENV"),
        ({}, ["GLIBC_TUNABLES=x"], "GLIBC_TUNABLES"),
        ({}, ["PYTHONSTARTUP=/x"], "PYTHONSTARTUP"),
        ({"env_allow": ["PATH"]}, ["PATH=/usr/bin"], None),  # exact allow beats the built-in
        ({"env_allow": ["*"]}, ["LD_PRELOAD=/x.so"], "LD_PRELOAD"),  # a pattern does not
        ({"env_allow": ["LANG", "LC_*"]}, ["LC_ALL=C", "LANG=C"], None),
        ({"env_deny": ["TERM"]}, ["TERM=xterm"], "TERM"),
        ({"env_allow": ["PATH"], "env_deny": ["PATH"]}, ["PATH=/x"], "PATH"),
        ({"env_deny": ["SECRET_*"]}, ["SECRET_KEY=1"], "SECRET_KEY"),
        ({}, ["NOEQUALS"], "malformed"),
    ],
)
def test_env_rules(table: dict[str, Any], env: list[str], denied: str | None) -> None:
    from wsep_server.policy import check_env

    command = Command("/usr/bin/true", env=tuple(env))
    if denied is None:
        check_env(_rules(**table), command)
    else:
        with pytest.raises(PolicyViolation, match=denied):
            check_env(_rules(**table), command)


@pytest.mark.parametrize(
    ("table", "uid", "gid", "denied"),
    [
        ({}, 0, 0, None),  # "unchanged": the server's own (non-root) user
        ({}, 1000, 0, None),  # naming the own uid explicitly
        ({}, 2000, 2000, "uid 2000"),
        ({"uids": [2000]}, 2000, 2000, "gid 2000"),
        ({"uids": [2000], "gids": [2000]}, 2000, 2000, None),
        ({}, 0, 2000, "gid 2000"),
    ],
)
def test_id_rules_non_root_server(
    table: dict[str, Any], uid: int, gid: int, denied: str | None
) -> None:
    from wsep_server.policy import check_ids

    command = Command("/usr/bin/true", uid=uid, gid=gid)
    if denied is None:
        check_ids(_rules(**table), command, euid=1000, egid=1000)
    else:
        with pytest.raises(PolicyViolation, match=denied):
            check_ids(_rules(**table), command, euid=1000, egid=1000)


def test_id_rules_root_server() -> None:
    from wsep_server.policy import check_ids

    with pytest.raises(PolicyViolation, match=r"root \(uid 0\)"):
        check_ids(_rules(), Command("/usr/bin/true"), euid=0, egid=0)
    check_ids(_rules(uids=[0]), Command("/usr/bin/true"), euid=0, egid=0)
    check_ids(_rules(uids=[0]), Command("/usr/bin/true", gid=5), euid=0, egid=0)
    with pytest.raises(PolicyViolation, match="uid 65534"):
        check_ids(_rules(uids=[0]), Command("/usr/bin/true", uid=65534), euid=0, egid=0)
    # a switched user keeps its own primary group, not the server's (root) group
    check_ids(
        _rules(uids=[65534], gids=[65534]),
        Command("/usr/bin/true", uid=65534, gid=65534),
        euid=0,
        egid=0,
    )


def test_working_dir_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wsep_server.policy import check_working_dir

    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "out").symlink_to(tmp_path)
    (tmp_path / "rootish").mkdir()
    rules = _rules(working_dirs=[str(root)])
    assert check_working_dir(rules, Command("x", working_dir=str(root / "a"))) == str(root / "a")
    assert check_working_dir(rules, Command("x", working_dir=str(root))) == str(root)
    for bad in (f"{root}/../rootish", f"{root}/out", f"{root}ish", "/", str(tmp_path)):
        with pytest.raises(PolicyViolation, match="working directory"):
            check_working_dir(rules, Command("x", working_dir=bad))
    monkeypatch.chdir(root)
    assert check_working_dir(rules, Command("x", working_dir="a")) == str(root / "a")
    assert check_working_dir(rules, Command("x")) == str(root)  # the server's own cwd
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyViolation, match="working directory"):
        check_working_dir(rules, Command("x"))


def test_command_rules(tmp_path: Path) -> None:
    from wsep_server.policy import check_command

    echo = os.path.realpath("/usr/bin/echo")
    sh = os.path.realpath("/bin/sh")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "echo").symlink_to(sh)
    (bindir / "good").symlink_to(echo)
    linkdir = tmp_path / "linkdir"
    linkdir.symlink_to(bindir)

    exact = _rules(commands=["/usr/bin/echo"])
    check_command(exact, "/usr/bin/echo", echo)
    if os.path.realpath("/bin") == "/usr/bin":  # merged /usr: /bin/echo is the same file
        check_command(exact, "/bin/echo", echo)
    with pytest.raises(PolicyViolation, match=r"not allowed: command \S+\Z"):
        check_command(exact, str(bindir / "echo"), sh)
    with pytest.raises(PolicyViolation):  # the right target, but a place nobody allowed
        check_command(exact, str(bindir / "good"), echo)

    pattern = _rules(commands=[f"{bindir}/*"])
    with pytest.raises(
        PolicyViolation, match=r"not allowed: command \S+\Z"
    ):  # target outside the pattern
        check_command(pattern, str(bindir / "good"), echo)
    both = _rules(commands=[f"{bindir}/*", os.path.dirname(echo) + "/*"])
    check_command(both, str(bindir / "good"), echo)  # place and target both allowed
    check_command(pattern, str(linkdir / "x"), str(bindir / "x"))  # directory symlinks resolved
    with pytest.raises(
        PolicyViolation, match=r"not allowed: command \S+\Z"
    ):  # a link out of the allowed place
        check_command(pattern, str(bindir / "echo"), sh)
    with pytest.raises(PolicyViolation):
        check_command(pattern, "/usr/bin/id", "/usr/bin/id")


def test_resolve_failures_are_refusals() -> None:
    from wsep_server.policy import default_resolver, resolve_command

    resolver = default_resolver()
    with pytest.raises(PolicyViolation, match="cannot check command"):
        resolve_command(Command("no-such-command-xyz"), resolver)
    path, real = resolve_command(Command("sh"), resolver)
    assert os.path.isabs(path)
    assert real == os.path.realpath(path)
