"""The Samba AD DC fixture: a real domain on a loopback address of its own, LDAPS with its own CA, stopped by pid."""

from __future__ import annotations

import os
import socket
import ssl

import pytest

from tests.support.samba import SambaDC


def test_ldaps_presents_a_certificate_signed_by_the_provisioned_ca(samba_dc: SambaDC) -> None:
    context = ssl.create_default_context(cafile=samba_dc.ca_file)
    with (
        socket.create_connection((samba_dc.host, 636), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=samba_dc.server_name) as tls,
    ):
        subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
    assert subject["commonName"] == samba_dc.server_name


def test_a_client_that_does_not_trust_the_ca_is_refused(samba_dc: SambaDC) -> None:
    context = ssl.create_default_context()  # the system store: Samba's self-signed CA is not in it
    with socket.create_connection((samba_dc.host, 636), timeout=5) as raw, pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname=samba_dc.server_name)


def test_the_dc_listens_on_its_own_loopback_address_only(samba_dc: SambaDC) -> None:
    assert samba_dc.host.startswith("127.") and samba_dc.host != "127.0.0.1"
    os.kill(samba_dc.pid, 0)  # the process the fixture stops by its id is alive
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", 636)) != 0
