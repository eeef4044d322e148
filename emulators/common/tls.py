"""A throwaway certificate authority and a loopback server certificate for the HTTPS emulators."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SYSTEM_BUNDLE_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


@dataclass(frozen=True)
class LoopbackTLS:
    """What a server needs to serve HTTPS on 127.0.0.1 and what a client needs to trust it."""

    ca_path: str  # the throwaway CA alone (pass as connection_verify / verify=)
    bundle_path: str  # system roots + the throwaway CA (for REQUESTS_CA_BUNDLE / SSL_CERT_FILE)
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_path)


def make_loopback_tls(directory: str | os.PathLike[str]) -> LoopbackTLS:
    """Create a CA and a certificate for 127.0.0.1/localhost; write the CA (and a combined bundle) to directory."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Entra connector emulator CA")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_path = folder / "emulator-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    bundle_path = folder / "emulator-ca-bundle.pem"
    system = next((p for p in SYSTEM_BUNDLE_CANDIDATES if os.path.exists(p)), None)
    parts = [Path(system).read_bytes()] if system else []
    parts.append(ca.cert_pem.bytes())
    bundle_path.write_bytes(b"\n".join(parts))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return LoopbackTLS(ca_path=str(ca_path), bundle_path=str(bundle_path), server_context=context)
