"""``python -m wsep_server.auth``: make tokens, token hashes, password hashes, JWTs.

::

    python -m wsep_server.auth gen-token                 # a random token
    python -m wsep_server.auth hash-token alice < token  # a --token-file line
    python -m wsep_server.auth hash-password alice       # a --basic-auth-file line
    python -m wsep_server.auth make-jwt --key-file k --sub alice --ttl 3600
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


def _help_text(doc: str) -> str:
    """The docstring as help: reST's ``::`` marker dropped, the examples' lines kept."""
    text = doc.replace("``", "")
    return "\n".join(line for line in text.splitlines() if line.strip() != "::")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m wsep_server.auth",
        description=_help_text(__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("gen-token", help="print a new random token")
    ht = sub.add_parser("hash-token", help="read a token on stdin, print a token-file line")
    ht.add_argument("name")
    hp = sub.add_parser("hash-password", help="read a password on stdin, print a user line")
    hp.add_argument("user")
    mj = sub.add_parser("make-jwt", help="sign a JWT (for tests and scripts)")
    mj.add_argument("--key-file", required=True)
    mj.add_argument("--algorithm", default="HS256")
    mj.add_argument("--sub", required=True)
    mj.add_argument("--ttl", type=int, default=3600)
    mj.add_argument("--iss")
    mj.add_argument("--aud")
    ns = p.parse_args(argv)
    if ns.cmd == "gen-token":
        from .tokens import generate_token

        print(generate_token())
    elif ns.cmd == "hash-token":
        from .tokens import hash_token

        print(f"{ns.name} {hash_token(_read_secret('token: '))}")
    elif ns.cmd == "hash-password":
        from .basic import hash_password

        print(f"{ns.user}:{hash_password(_read_secret('password: '))}")
    else:
        import jwt

        raw = Path(ns.key_file).read_bytes()
        key = raw.strip() if ns.algorithm.startswith("HS") else raw
        now = int(time.time())
        claims: dict[str, object] = {"sub": ns.sub, "iat": now, "exp": now + ns.ttl}
        if ns.iss:
            claims["iss"] = ns.iss
        if ns.aud:
            claims["aud"] = ns.aud
        print(jwt.encode(claims, key, algorithm=ns.algorithm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
