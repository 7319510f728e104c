"""TLS for `brokerplane serve`: checking a certificate and key before listening, and writing a
self-signed pair for localhost that MT5 Web API clients (which mostly hard-code https) accept
(`brokerplane tls self-signed`)."""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from brokerplane.server import StartupError

if TYPE_CHECKING:
    from cryptography.x509 import GeneralName

    from brokerplane.settings import Settings

DEFAULT_NAMES = ("localhost", "127.0.0.1")
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
MAX_DAYS = 3650


class TlsProblem(Exception):
    """A certificate or key that cannot be used, said in one line."""


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    names: tuple[str, ...]  # the subject alternative names, as DNS:x / IP:y
    not_after: datetime
    fingerprint: str  # SHA-256, colon-separated upper-case hex

    @property
    def expired(self) -> bool:
        return self.not_after <= datetime.now(UTC)


def _read(path: Path, what: str) -> bytes:
    if not path.exists():
        raise TlsProblem(f"the TLS {what} {path} does not exist")
    if not path.is_file():
        raise TlsProblem(f"the TLS {what} {path} is not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsProblem(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None


def describe(pem: bytes) -> CertificateInfo:
    """Subject, names, expiry and fingerprint of the first certificate in a PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
            + [f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        names = ()
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        names=names,
        not_after=cert.not_valid_after_utc,
        fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )


def check_pair(cert: Path, key: Path) -> CertificateInfo:
    """The certificate's description if `cert` and `key` make a usable server pair; else a
    TlsProblem naming the file and what is wrong with it."""
    cert_pem = _read(cert, "certificate")
    key_pem = _read(key, "key")
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise TlsProblem(f"the TLS certificate {cert} is not a PEM certificate")
    if b"PRIVATE KEY-----" not in key_pem:
        raise TlsProblem(f"the TLS key {key} is not a PEM private key")
    if b"ENCRYPTED" in key_pem:
        raise TlsProblem(
            f"the TLS key {key} is encrypted; give an unencrypted key "
            f"(openssl pkey -in {key} -out plain-key.pem)"
        )
    try:
        info = describe(cert_pem)
    except ValueError:
        raise TlsProblem(f"the TLS certificate {cert} is not a valid PEM certificate") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # A password callback, so an encrypted key fails here instead of prompting on a tty.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise TlsProblem(
                f"the TLS key {key} does not belong to the certificate {cert}"
            ) from None
        reason = exc.reason or str(exc)
        raise TlsProblem(
            f"the TLS certificate {cert} and key {key} are unusable: {reason}"
        ) from None
    return info


def listener_certificate(settings: Settings, note: Callable[[str], None]) -> CertificateInfo | None:
    """The TLS listener's certificate, checked; None when there is no TLS listener. `note` is
    told of settings that are harmless but probably not what was meant."""
    cert, key = settings.tls_cert, settings.tls_key
    tcp = settings.mt5_tcp_port
    if tcp is not None:
        if tcp in (settings.port, settings.mt5_tls_port):
            raise StartupError(
                f"--mt5-tcp-port {tcp} is already the HTTP or TLS port: give another"
            )
        if "mt5" not in settings.enabled_dialects:
            raise StartupError(
                f"--mt5-tcp-port serves the MT5 Web API, but the mt5 dialect is not enabled "
                f"(dialects: {settings.dialects}); add mt5 to --dialects"
            )
    if settings.mt5_tls_port is None and tcp is not None and (cert is not None or key is not None):
        if cert is None or key is None:
            raise StartupError("--tls-cert and --tls-key go together")
        try:
            return check_pair(cert, key)
        except TlsProblem as exc:
            raise StartupError(str(exc)) from None
    if settings.mt5_tls_port is None:
        if cert is not None or key is not None:
            note(
                "note: --tls-cert and --tls-key are used only with --mt5-tls-port or "
                "--mt5-tcp-port; serving plain HTTP only"
            )
        return None
    if cert is None or key is None:
        raise StartupError(
            "--mt5-tls-port needs --tls-cert and --tls-key (or BROKERPLANE_TLS_CERT and "
            "BROKERPLANE_TLS_KEY); `brokerplane tls self-signed` writes a pair for localhost"
        )
    if settings.mt5_tls_port == settings.port:
        raise StartupError(f"--mt5-tls-port and --port are both {settings.port}: give two ports")
    if "mt5" not in settings.enabled_dialects:
        raise StartupError(
            f"--mt5-tls-port serves the MT5 Web API, but the mt5 dialect is not enabled "
            f"(dialects: {settings.dialects}); add mt5 to --dialects"
        )
    try:
        info = check_pair(cert, key)
    except TlsProblem as exc:
        raise StartupError(str(exc)) from None
    if info.expired:
        note(
            f"note: the TLS certificate {cert} expired on {info.not_after:%Y-%m-%d}; "
            "clients that verify certificates will refuse it"
        )
    return info


def _general_names(names: list[str]) -> list[GeneralName]:
    from cryptography import x509

    out: list[GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def self_signed(
    out_dir: Path, *, days: int = 825, names: tuple[str, ...] = DEFAULT_NAMES, force: bool = False
) -> tuple[Path, Path, CertificateInfo]:
    """Write cert.pem and key.pem (owner-only) for CN=<first name>, with every name as a subject
    alternative name (IP addresses as IP names). Refuses to overwrite unless `force`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not 1 <= days <= MAX_DAYS:
        raise TlsProblem(f"--days must be 1 to {MAX_DAYS}, not {days}")
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        raise TlsProblem("name at least one host name or IP address")
    cert_path, key_path = out_dir / CERT_FILE, out_dir / KEY_FILE
    if not force:
        existing = [str(p) for p in (cert_path, key_path) if p.exists()]
        if existing:
            raise TlsProblem(f"{' and '.join(existing)} already exist; add --force to replace")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TlsProblem(f"cannot create {out_dir}: {exc.strerror or exc}") from None

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0])])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_general_names(wanted)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        _write(key_path, key_pem, 0o600)
        _write(cert_path, cert_pem, 0o644)
    except OSError as exc:
        raise TlsProblem(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    return cert_path, key_path, describe(cert_pem)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data`, created with `mode` (so a key is never world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
