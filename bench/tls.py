"""A test CA and a server certificate for ``wss://`` figures (trustme), as PEM files."""

from __future__ import annotations

import pathlib
import shutil
import ssl
import tempfile

__all__ = ["TestCA", "client_context", "tls_unavailable"]


def tls_unavailable() -> str | None:
    """Why there can be no wss:// figures here (None if there can)."""
    try:
        import trustme  # noqa: F401
    except ImportError:
        return "trustme is not installed: no wss:// figures"
    return None


class TestCA:
    """``cert``/``key`` for the server (127.0.0.1), ``ca`` for the clients to verify it."""

    def __init__(self) -> None:
        import trustme

        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="wsep-bench-tls-"))
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.ca = self.dir / "ca.pem"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"
        ca.cert_pem.write_to_path(str(self.ca))
        server.private_key_pem.write_to_path(str(self.key))
        server.cert_chain_pems[0].write_to_path(str(self.cert))
        for extra in server.cert_chain_pems[1:]:
            with open(self.cert, "ab") as f:
                f.write(extra.bytes())

    def server_args(self) -> str:
        return f"--tls-cert {self.cert} --tls-key {self.key}"

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def client_context(ca: str | None) -> ssl.SSLContext | None:
    """What clients verify the server with: the test CA only (None for ws://)."""
    return ssl.create_default_context(cafile=ca) if ca else None
