"""Ansible support: the connection plugin behind ``ansible_connection=wsep.wsep.wsep``.

Needs ``ansible-core`` (``pip install wsep-client[ansible]``); nothing else in
wsep_client imports this package.
"""

from __future__ import annotations

__all__: list[str] = []
