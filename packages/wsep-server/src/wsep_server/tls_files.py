"""Certificate and key files checked with errors that name the file and the fault.

OpenSSL's own errors (``[SSL] PEM lib (_ssl.c:3926)``) say neither which
file nor what is wrong with it; an operator needs both.
"""

from __future__ import annotations

import ssl

__all__ = ["check_certificate_pair", "check_pem_file", "reload_certificate"]


def _read(path: str, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ValueError(f"{what} {path}: no such file") from None
    except PermissionError:
        raise ValueError(f"{what} {path}: not readable (permission denied)") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path}: is a directory, not a file") from None
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    return data.decode("ascii", "replace")


def check_pem_file(path: str, what: str, *, certificate: bool) -> None:
    """Raise ``ValueError`` unless ``path`` is readable and holds a PEM certificate or key."""
    text = _read(path, what)
    has_cert = "-----BEGIN CERTIFICATE-----" in text
    has_key = "PRIVATE KEY-----" in text
    if certificate and not has_cert:
        hint = " (it holds a private key: is it the key file?)" if has_key else ""
        raise ValueError(f"{what} {path}: no PEM certificate in it{hint}")
    if not certificate and not has_key:
        hint = " (it holds a certificate: is it the certificate file?)" if has_cert else ""
        raise ValueError(f"{what} {path}: no PEM private key in it{hint}")


def check_certificate_pair(certfile: str, keyfile: str | None) -> None:
    """Raise ``ValueError`` saying which file is wrong unless the pair loads."""
    check_pem_file(certfile, "--tls-cert", certificate=True)
    if keyfile:
        check_pem_file(keyfile, "--tls-key", certificate=False)
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        text = f"{exc.reason or ''} {exc}".lower()
        if "mismatch" in text:
            raise ValueError(
                f"--tls-key {keyfile}: does not match the certificate in --tls-cert {certfile}"
            ) from None
        if "password" in text or "bad decrypt" in text:
            raise ValueError(f"--tls-key {keyfile}: encrypted; give an unencrypted key") from None
        raise ValueError(
            f"--tls-cert {certfile} / --tls-key {keyfile}: not a usable pair: {exc.reason or exc}"
        ) from None


def reload_certificate(context: ssl.SSLContext, certfile: str, keyfile: str | None) -> None:
    """Load a new pair into the live ``context``: new handshakes use it, open ones go on.

    The pair is checked on a scratch context first, so a broken file leaves
    ``context`` as it was.
    """
    check_certificate_pair(certfile, keyfile)
    context.load_cert_chain(certfile, keyfile)
