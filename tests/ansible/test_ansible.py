"""A real ``ansible-playbook`` through the wsep connection plugin (collection wsep.wsep).

Three ``wsep-server`` processes on loopback (distinct ports, token auth), a
host whose port nobody serves and one with a wrong token: those two are
reported unreachable, the others run the whole playbook (facts, command,
shell, file, copy, template, stat, fetch, become, pipelining).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
from support.wire import free_port

pytest.importorskip("ansible")

pytestmark = [pytest.mark.once, pytest.mark.usefixtures("no_leaked_children")]

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "ansible-token-0123456789abcdef"
RECAP = re.compile(r"^(\S+)\s+:\s+(ok=.*)$", re.MULTILINE)


def test_playbook_runs_on_every_reachable_host(start_server_process, tmp_path) -> None:
    servers = [start_server_process(env={"WSEP_TOKEN": TOKEN}) for _ in range(3)]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    lines = ["[fleet]"]
    for i, srv in enumerate(servers):
        port = srv.url.rsplit(":", 1)[1].split("/")[0]
        # node0 copies each module with put_file; the others pipe it through stdin.
        pipelining = " ansible_pipelining=true" if i else ""
        lines.append(f"node{i} ansible_host=127.0.0.1 ansible_port={port}{pipelining}")
    lines.append(f"down ansible_host=127.0.0.1 ansible_port={free_port()}")
    lines.append(f"badtoken ansible_wsep_url={servers[0].url} ansible_wsep_token=wrong-token")
    lines += [
        "[fleet:vars]",
        "ansible_connection=wsep.wsep.wsep",
        f"ansible_wsep_token_file={token_file}",
        f"ansible_python_interpreter={sys.executable}",
    ]
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    fetched = tmp_path / "fetched"
    workdir = tmp_path / "work"
    extra = {
        "workdir": str(workdir),
        "payload": str(payload),
        "payload_sha256": hashlib.sha256(payload.read_bytes()).hexdigest(),
        "fetched": str(fetched),
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "WSEP_"))},
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "ansible-remote"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_FORKS": "5",
        "ANSIBLE_TIMEOUT": "30",
        "ANSIBLE_NOCOLOR": "1",
    }
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run(
        [
            playbook,
            "-i",
            str(inventory),
            "-e",
            json.dumps(extra),
            os.path.join(HERE, "playbook.yml"),
        ],
        capture_output=True,
        env=env,
        cwd=HERE,
        timeout=300,
    )
    output = proc.stdout.decode()
    recap = dict(RECAP.findall(output.split("PLAY RECAP", 1)[-1]))
    assert set(recap) == {"node0", "node1", "node2", "down", "badtoken"}, output
    assert "unreachable=1" in recap["down"]
    assert "unreachable=1" in recap["badtoken"]
    for i in range(3):
        assert "unreachable=0" in recap[f"node{i}"], output
        assert "failed=0" in recap[f"node{i}"], output
        assert int(recap[f"node{i}"].split()[0].split("=")[1]) >= 12, output  # ok=N
        greeting = (fetched / f"node{i}.txt").read_text()
        assert greeting == f"Hello node{i} on Linux.\n"
        assert not (workdir / f"node{i}" / "payload.bin").exists()
    assert re.search(r"\[down\]: UNREACHABLE! .*refused", output), output
    assert re.search(r"\[badtoken\]: UNREACHABLE! .*authentication rejected", output), output
    assert proc.returncode == 4  # ansible-playbook: some hosts were unreachable
