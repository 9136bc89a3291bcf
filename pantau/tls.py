"""A private certificate authority and one server certificate for the local stack's TLS listeners.

The local Kafka broker serves TLS beside plaintext and PostgreSQL accepts TLS connections, both with
a certificate for ``127.0.0.1``/``localhost`` signed by a CA made here, so the services' TLS options
(``PANTAU_KAFKA_SECURITY_PROTOCOL=SSL``, ``sslmode=verify-full`` in the database URL) are exercised
against the real servers, with the certificate checked, not skipped. Production brokers and
databases use the city's own certificates; nothing here is meant for them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pantau.private_files import write_private

VALID_DAYS = 3650


@dataclass(frozen=True)
class TlsFiles:
    """Where the local stack's TLS material lives (all PEM)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    keystore: Path  # the key, then the certificate chain: Kafka's PEM keystore format

    @classmethod
    def under(cls, directory: Path) -> TlsFiles:
        return cls(directory / "ca.crt", directory / "server.crt", directory / "server.key", directory / "keystore.pem")

    def complete(self) -> bool:
        return all(path.exists() for path in (self.ca_cert, self.server_cert, self.server_key, self.keystore))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pantau local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ensure_tls(directory: Path) -> TlsFiles:
    """The CA and server certificate under ``directory``, made once and reused afterwards."""
    files = TlsFiles.under(directory)
    if files.complete():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Pantau local CA"))
        .issuer_name(_name("Pantau local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain_pem = server_cert.public_bytes(pem) + ca_cert.public_bytes(pem)
    write_private(files.server_key, key_pem)
    write_private(files.keystore, key_pem + chain_pem)
    files.server_cert.write_bytes(chain_pem)
    # Written last: a CA file present means the set is complete.
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    return files
