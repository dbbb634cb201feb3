"""OpenSSH as a baseline: a private ``sshd`` on loopback, and the ``ssh`` client against it.

Nothing system-wide is used or changed: the server runs from Debian's
``/usr/sbin/sshd`` with its own config (``-f``), host key, authorized client
key and known-hosts file in a temporary directory, in the foreground (``-D
-e``), without PAM or a pid file, and is stopped with the bench. Where the
privilege-separation directory ``/run/sshd`` does not exist (no system sshd
ever ran), it gets one in a private mount namespace (``unshare --mount``, a
tmpfs over ``/run`` seen by that sshd only); run as another user, sshd needs
none and logs that user in (``PermitRootLogin yes`` is for runs as root).

The remote command runs through the account's login shell, as ssh always does;
``SetEnv HOME=<empty dir> ENV= BASH_ENV=`` keeps that shell from reading any
start-up file, so the figures are the protocol's (the shell's own start is
part of every ssh command, and is counted).
"""

from __future__ import annotations

import os
import pathlib
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .procs import free_port, tree_pids

__all__ = ["SSHD", "Sshd", "sshd_unavailable", "stat_cpu"]

SSHD = "/usr/sbin/sshd"
_TICKS = os.sysconf("SC_CLK_TCK")
#: ``times`` prints the shell's and its children's user and system time.
_TIMES = re.compile(rb"(\d+)m([\d.]+)s")


def sshd_unavailable() -> str | None:
    """Why there can be no ssh baseline here (None if there can)."""
    if not os.path.exists(SSHD):
        return f"{SSHD} is not installed (Debian: openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: openssh-client)"
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd") and shutil.which("unshare") is None:
        return "/run/sshd is missing and unshare is not available"
    return None


def stat_cpu(pid: int) -> float:
    """User + system time of ``pid`` and of its children it reaped, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(x) for x in fields[11:15]) / _TICKS


def times_seconds(stderr: bytes) -> float:
    """CPU seconds a shell's ``times`` reported (itself and its children)."""
    return sum(int(m) * 60 + float(s) for m, s in _TIMES.findall(stderr))


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class Sshd:
    """A private sshd; :meth:`argv` builds ``ssh`` command lines for it."""

    def __init__(self) -> None:
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="wsep-bench-sshd-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.masters: list[pathlib.Path] = []

    def start(self, startup_timeout: float = 30.0) -> Sshd:
        d = self.dir
        (d / "home").mkdir()
        for key in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True
            )
        shutil.copy(d / "client_key.pub", d / "authorized_keys")
        host_pub = (d / "host_key.pub").read_text().strip()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        (d / "sshd_config").write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {d / 'host_key'}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                    "PidFile none",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "UseDNS no",
                    "LogLevel ERROR",
                    f"SetEnv HOME={d / 'home'} ENV= BASH_ENV=",
                    "MaxStartups 200:30:400",
                    "MaxSessions 200",
                    "",
                ]
            )
        )
        argv = [SSHD, "-D", "-e", "-f", str(d / "sshd_config")]
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            inner = "mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec "
            argv = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                inner + shlex.join(argv),
            ]
        self.log = open(d / "sshd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True
        )
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"sshd did not listen within {startup_timeout} s") from None
                time.sleep(0.02)
        self.run(["true"])  # fails here, clearly, if the login does not work
        return self

    def log_text(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        """The listening sshd (after ``unshare``'s exec, the same process)."""
        assert self.proc is not None
        return self.proc.pid

    def argv(
        self, command: str, *, cipher: str | None = None, master: str | None = None
    ) -> list[str]:
        """``ssh`` with this server's keys only (``-F /dev/null``: no user or system config).

        ``master``: a ControlPath name for ControlMaster=auto/ControlPersist.
        """
        d = self.dir
        opts = [
            "-F",
            "/dev/null",
            "-i",
            str(d / "client_key"),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={d / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(self.port),
        ]
        if cipher:
            opts += ["-c", cipher]
        if master:
            path = d / f"cm-{master}"
            opts += [
                "-o",
                "ControlMaster=auto",
                "-o",
                f"ControlPath={path}",
                "-o",
                "ControlPersist=yes",
            ]
            if path not in self.masters:
                self.masters.append(path)
        return ["ssh", *opts, f"{pwd.getpwuid(os.getuid()).pw_name}@127.0.0.1", command]

    def run(self, argv: list[str], **kw: object) -> None:
        cmd = self.argv(shlex.join(argv), **kw)  # type: ignore[arg-type]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(
                f"ssh {shlex.join(argv)}: exit {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace')[-500:]} | sshd: {self.log_text()}"
            )

    def tree_cpu(self) -> float:
        """CPU seconds of the sshd process tree so far (live processes and reaped ones)."""
        return sum(stat_cpu(p) for p in tree_pids(self.pid))

    def wait_commands_done(self, timeout: float = 15.0) -> None:
        """Wait until only sshd processes are left in its tree (the commands were reaped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(_comm(p) in ("sshd", "") for p in tree_pids(self.pid)):
                return
            time.sleep(0.005)

    def stop(self) -> None:
        for path in self.masters:
            if path.exists():
                subprocess.run(
                    ["ssh", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=30,
                )
        self.masters.clear()
        proc, self.proc = self.proc, None
        if proc is not None:
            left = tree_pids(proc.pid)[1:]  # connections run in sessions of their own
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            for pid in left:  # what it left (it should leave nothing)
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            proc.wait()
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
