"""A throwaway CA and a server certificate for the public VIP (tests and the lab): openssl."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabCa:
    ca_certificate: str
    certificate: str  # for the public VIP's address, signed by the CA
    key: str
    other_key: str  # a key that does not belong to the certificate


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_lab_ca(where: Path, address: str) -> LabCa:
    """An EC CA, and a certificate for `address` (subjectAltName IP) that it signed."""
    where.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "server", "other"):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key",
                 cwd=where)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=ha-openstack lab CA", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", "ca.pem", cwd=where)
    (where / "server.ext").write_text(f"subjectAltName=IP:{address}\nbasicConstraints=CA:FALSE\n"
                                      "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-key", "server.key", "-subj", f"/CN={address}", "-out", "server.csr", cwd=where)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "30", "-extfile", "server.ext", "-out", "server.pem", cwd=where)
    read = lambda name: (where / name).read_text()  # noqa: E731
    return LabCa(read("ca.pem"), read("server.pem"), read("server.key"), read("other.key"))
