"""Inventories from TOML and Python: defaults, groups, labels, selection, clear errors."""

from __future__ import annotations

import pytest
from wsep_client import Inventory, InventoryError, Target

TOML = """
[defaults]
token_file = "token.txt"
cafile = "certs/ca.pem"

[targets.web1]
url = "wss://web1.example:8080/"
groups = ["web"]
labels = { dc = "fra" }

[targets.web2]
url = "wss://web2.example:8080/"
groups = ["web"]
labels = { dc = "ams" }

[targets.db1]
url = "ws://db1.example:8080/"
token = "literal"
insecure = true

[groups]
prod = ["web1", "db1"]
"""


def test_toml_defaults_groups_and_labels(tmp_path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(TOML)
    (tmp_path / "token.txt").write_text("from-file\n")
    inventory = Inventory.load(path)
    assert [t.name for t in inventory] == ["web1", "web2", "db1"]
    web1 = inventory["web1"]
    assert web1.groups == ("web", "prod")
    assert web1.labels == {"dc": "fra"}
    assert web1.cafile == str(tmp_path / "certs" / "ca.pem")  # relative to the file
    assert web1.read_token() == "from-file"
    assert inventory["db1"].read_token() == "literal"  # a literal token wins
    assert inventory["db1"].ssl() is False
    assert [t.name for t in inventory.select("web")] == ["web1", "web2"]
    assert [t.name for t in inventory.select("prod")] == ["web1", "db1"]
    assert [t.name for t in inventory.select("dc=ams")] == ["web2"]
    assert [t.name for t in inventory.select("db1")] == ["db1"]
    assert len(inventory.select("all")) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[targets.a]\nurl = "http://x/"\n', "ws:// or wss://"),
        ('[targets.a]\nurl = "ws://x/"\nport = 1\n', "unknown keys"),
        ('[targets.a]\nurl = "ws://x/"\n[groups]\ng = ["b"]\n', "no target 'b'"),
        ('[hosts.a]\nurl = "ws://x/"\n', "unknown sections"),
        ("[defaults]\n", "no \\[targets.NAME\\]"),
        ('[targets.a]\nurl = "ws://x/"\ngroups = "web"\n', "groups must be a list"),
        ("[targets.a\n", "hosts.toml"),
    ],
)
def test_bad_inventories_say_where_and_why(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    with pytest.raises(InventoryError, match=message):
        Inventory.load(path)


def test_python_inventory_and_selection_errors() -> None:
    inventory = Inventory.from_urls(["ws://127.0.0.1:1/", "ws://127.0.0.1:2/"], token="t")
    assert [t.name for t in inventory] == ["127.0.0.1:1", "127.0.0.1:2"]
    assert all(t.token == "t" for t in inventory)
    with pytest.raises(InventoryError, match="no target matches 'web'"):
        inventory.select("web")
    with pytest.raises(InventoryError, match="appears twice"):
        Inventory([Target("a", "ws://x/"), Target("a", "ws://y/")])
    with pytest.raises(InventoryError, match=r"missing\.toml"):
        Inventory.load("missing.toml")
