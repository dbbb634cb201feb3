"""Flags, WSEP_* variables and the config file; --check-config, --version, TLS file errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from support import REPO
from support.ops import clean_env
from wsep_server.__main__ import main
from wsep_server.cli import _build_parser, parse_args
from wsep_server.security import SecurityOptions, tls_context
from wsep_server.settings import settings


def _cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsep_server", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**env),
        cwd=str(cwd or REPO),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def no_wsep_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("WSEP_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _parse_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        parse_args(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WSEP_PORT", "abc"),
        ("WSEP_GRACE_PERIOD", "soon"),
        ("WSEP_HEARTBEAT", "-1"),
        ("WSEP_MAX_MESSAGE_SIZE", "1MB"),
        ("WSEP_SESSION_TIMEOUT", "x"),
        ("WSEP_LOG_LEVEL", "loud"),
        ("WSEP_LOG_FORMAT", "xml"),
        ("WSEP_COMPRESS", "maybe"),
        ("WSEP_METRICS_LISTEN", "nowhere"),
        ("WSEP_FORWARDED_FROM", "10.0.0.1,not-an-address"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    variable: str, value: str, no_wsep_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_wsep_env.setenv(variable, value)
    line = _parse_error(capsys)
    assert line.startswith(f"wsep-server: error: {variable}={value!r}: "), line


def test_the_real_command_reports_a_bad_variable_without_a_traceback() -> None:
    done = _cli(WSEP_PORT="abc")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "wsep-server: error: WSEP_PORT='abc': invalid int value"
    )


def test_every_flag_has_a_variable_and_a_config_key() -> None:
    """Derived from the parser: a flag added later is covered without further code."""
    found = {s.action.dest: s for s in settings(_build_parser())}
    assert found["port"].env == "WSEP_PORT"
    assert found["port"].key == "port"
    assert found["tls_cert"].env == "WSEP_TLS_CERT"
    assert found["tls_cert"].key == "tls-cert"
    assert found["trusted_proxy"].env == "WSEP_TRUSTED_PROXIES"
    assert "config" not in found
    assert "check_config" not in found
    for setting in found.values():
        assert setting.env.startswith("WSEP_")


def test_precedence_flags_over_environment_over_file(
    tmp_path: Path, no_wsep_env: pytest.MonkeyPatch
) -> None:
    monkeypatch = no_wsep_env
    config = tmp_path / "wsep-server.toml"
    config.write_text(
        'port = 7001\nhost = "127.0.0.2"\nlog_level = "debug"\ncompress = true\n'
        'trusted-proxy = ["10.0.0.1", "10.0.0.2"]\nheartbeat = 12.5\n'
    )
    opts = parse_args(["--config", str(config)])
    assert (opts.port, opts.host, opts.log_level, opts.compress) == (
        7001,
        "127.0.0.2",
        "debug",
        True,
    )
    assert opts.heartbeat == 12.5
    assert opts.security.trusted_proxies == ("10.0.0.1", "10.0.0.2")
    monkeypatch.setenv("WSEP_PORT", "7002")
    monkeypatch.setenv("WSEP_TRUSTED_PROXIES", "10.0.0.3")
    opts = parse_args(["--config", str(config)])
    assert opts.port == 7002
    assert opts.host == "127.0.0.2"
    assert opts.security.trusted_proxies == ("10.0.0.3",)
    opts = parse_args(["--config", str(config), "--port", "7003", "--trusted-proxy", "10.0.0.4"])
    assert opts.port == 7003
    assert opts.security.trusted_proxies == ("10.0.0.4",)  # replaced, not added to
    monkeypatch.setenv("WSEP_CONFIG", str(config))
    assert parse_args([]).host == "127.0.0.2"


def test_config_file_errors_name_the_file_and_key(
    tmp_path: Path, no_wsep_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("prot = 8080\n")
    line = _parse_error(capsys, "--config", str(config))
    assert line.endswith(f"config file {config}: unknown setting 'prot'")
    config.write_text('port = "eighty"\n')
    assert _parse_error(capsys, "--config", str(config)).endswith(
        f"{config}: port: invalid int value"
    )
    config.write_text("port = \n")
    assert "not valid TOML" in _parse_error(capsys, "--config", str(config))
    assert "No such file" in _parse_error(capsys, "--config", str(tmp_path / "none.toml"))


def test_version_names_all_three_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("wsep-server 0.")
    assert "wsep-protocol 0." in out
    assert "wsep-client 0." in out


@pytest.fixture
def pair(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    leaf, other = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    files = {
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
        "other_key": tmp_path / "other.pem",
    }
    leaf.cert_chain_pems[0].write_to_path(str(files["cert"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    return files


def test_tls_errors_name_the_file_and_the_fault(pair: dict[str, Path], tmp_path: Path) -> None:
    cert, key, other = str(pair["cert"]), str(pair["key"]), str(pair["other_key"])
    cases = [
        ((cert, cert), f"--tls-key {cert}", "no PEM private key in it"),
        ((key, key), f"--tls-cert {key}", "no PEM certificate in it"),
        ((cert, other), f"--tls-key {other}", "does not match the certificate"),
        ((str(tmp_path), key), f"--tls-cert {tmp_path}", "is a directory"),
    ]
    for (c, k), names, fault in cases:
        with pytest.raises(ValueError, match="--tls-") as info:
            tls_context(SecurityOptions(), c, k)
        line = str(info.value)
        assert names in line, line
        assert fault in line, line
        assert "PEM lib" not in line
    missing = str(tmp_path / "nonexistent.pem")
    done = _cli("--port", "0", "--tls-cert", missing, "--tls-key", key)
    assert done.returncode == 1
    assert done.stderr.strip() == f"wsep-server: --tls-cert {missing}: no such file"


@pytest.mark.usefixtures("no_wsep_env")
def test_check_config_reports_every_problem_one_line_each(
    pair: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[default\ncommands = 1\n")
    tokens = tmp_path / "tokens"
    tokens.write_text("alice sha256:nothex\n")
    code = main([
        "--check-config",
        "--tls-cert", str(pair["cert"]), "--tls-key", str(pair["other_key"]),
        "--token-file", str(tokens),
        "--basic-auth-file", str(tmp_path / "missing-users"),
        "--jwt-key", str(tmp_path / "missing.key"),
        "--policy", str(policy),
        "--audit-log", str(tmp_path / "no" / "dir" / "audit.jsonl"),
        "--trusted-proxy", "proxy.example",
        "--allow-origin", "not an origin",
        "--tls-client-ca", str(policy),
    ])  # fmt: skip
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("wsep-server: ") for line in lines), lines
    joined = "\n".join(lines)
    for expected in (
        "--tls-key", str(tokens), "missing-users", "proxy.example", "not an origin",
        "--tls-client-ca", "missing.key", str(policy), "--audit-log"
    ):  # fmt: skip
        assert sum(expected in line for line in lines) >= 1, (expected, joined)
    assert len(lines) == 9, joined


@pytest.mark.usefixtures("no_wsep_env")
def test_check_config_passes_a_good_configuration(
    pair: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wsep_server.auth import hash_token

    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice {hash_token('a' * 32)}\n")
    policy = tmp_path / "policy.toml"
    policy.write_text('[default]\ncommands = ["/usr/bin/*"]\n')
    config = tmp_path / "wsep-server.toml"
    config.write_text(
        f'tls-cert = "{pair["cert"]}"\ntls-key = "{pair["key"]}"\n'
        f'token-file = "{tokens}"\npolicy = "{policy}"\n'
        f'audit-log = "{tmp_path / "audit.jsonl"}"\nhost = "0.0.0.0"\n'
    )
    assert main(["--config", str(config), "--check-config"]) == 0
    assert "configuration OK" in capsys.readouterr().out
    assert main(["--check-config", "--host", "0.0.0.0"]) == 1
    assert "without authentication" in capsys.readouterr().err


def test_an_eagerly_converted_default_still_gets_the_one_line_error(
    no_wsep_env: pytest.MonkeyPatch,
) -> None:
    """A flag written as ``default=float(_env(...))`` would raise while the parser is built."""
    import argparse

    from wsep_server.settings import SettingError, apply_layers, build_parser_despite_environment

    def build() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser()
        p.add_argument("--eager", type=float, default=float(os.environ.get("WSEP_EAGER", "1")),
                       help="[WSEP_EAGER]")  # fmt: skip
        return p

    no_wsep_env.setenv("WSEP_EAGER", "lots")
    parser = build_parser_despite_environment(build)
    assert os.environ["WSEP_EAGER"] == "lots"
    with pytest.raises(SettingError, match="WSEP_EAGER='lots': invalid float value"):
        apply_layers(parser, environ=os.environ)
