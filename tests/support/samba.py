"""A real Active Directory for tests: a Samba AD DC provisioned into a temporary folder, LDAP/LDAPS on a loopback
address of its own, stopped by its process id."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from emulators.common.processes import running, wait_until

REALM = "CORP.EXAMPLE.TEST"
DOMAIN = "CORP"
HOST_NAME = "dc1"
BASE_DN = "DC=corp,DC=example,DC=test"
# Test-only administrator password of a throw-away domain (not a secret).
ADMIN_PASSWORD = "Adm1n-Pass!word-7"
PROVISION_TIMEOUT_S = 180
START_TIMEOUT_S = 90


@dataclass(frozen=True)
class SambaDC:
    """A running domain controller. `host` is a loopback address only this DC listens on (Samba has no setting
    for its LDAP ports, so parallel runs each take their own 127.x.y.z); `server_name` is the name its
    self-signed certificate carries; `ca_file` the CA that signed it."""

    host: str
    pid: int
    target_dir: str
    realm: str = REALM
    admin_password: str = ADMIN_PASSWORD

    @property
    def domain(self) -> str:
        """The domain's DNS name, e.g. corp.example.test (what an AD connection names)."""
        return self.realm.lower()

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.domain.split("."))

    @property
    def server_name(self) -> str:
        return f"{HOST_NAME.upper()}.{self.domain}"

    @property
    def admin_user(self) -> str:
        return f"Administrator@{self.domain}"

    @property
    def ca_file(self) -> str:
        return os.path.join(self.target_dir, "private", "tls", "ca.pem")

    @property
    def ldaps_port(self) -> int:
        return 636

    @property
    def ldap_port(self) -> int:
        return 389


def _loopback_address() -> str:
    """A 127.x.y.z on which nothing listens on 389/636 yet (Linux routes all of 127/8 to lo)."""
    for _ in range(50):
        host = f"127.{random.randint(64, 250)}.{random.randint(0, 250)}.{random.randint(1, 250)}"
        free = True
        for port in (389, 636, 3268, 3269):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    free = False
                    break
        if free:
            return host
    raise RuntimeError("no free loopback address for the Samba DC")


def samba_binaries() -> tuple[str, str]:
    samba, tool = shutil.which("samba") or "/usr/sbin/samba", shutil.which("samba-tool")
    if not os.path.exists(samba) or tool is None:
        raise RuntimeError(
            "Samba AD DC is not installed (samba, samba-tool): `make setup` installs the Debian packages "
            "samba samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind ldb-tools"
        )
    return samba, tool


def provision(target_dir: str, host: str, realm: str = REALM, domain: str = DOMAIN) -> None:
    """`samba-tool domain provision` into target_dir: DNS off, LDAP only, bound to `host` on lo only."""
    _, tool = samba_binaries()
    args = [
        tool, "domain", "provision", "-s", "/dev/null", "--use-rfc2307",
        f"--realm={realm}", f"--domain={domain}", f"--host-name={HOST_NAME}", "--server-role=dc",
        "--dns-backend=NONE", f"--adminpass={ADMIN_PASSWORD}", f"--targetdir={target_dir}",
        f"--option=interfaces={host}/8", "--option=bind interfaces only=yes", "--option=server services=ldap",
        # Samba's own run-time paths default to /run/samba: a DC left running by a killed test run would hold the
        # pid file there and make every later DC exit at once ("already running"). Each DC keeps them its own.
        f"--option=pid directory={target_dir}", f"--option=ncalrpc dir={target_dir}/ncalrpc",
        f"--option=winbindd socket directory={target_dir}/winbindd",
        f"--option=ntp signd socket directory={target_dir}/ntp_signd",
    ]  # fmt: skip
    log_path = os.path.join(target_dir, "provision.log")
    with open(log_path, "wb") as log:
        done = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, timeout=PROVISION_TIMEOUT_S, check=False)
    if done.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = log.read()[-2000:]
        raise RuntimeError(f"samba-tool domain provision failed ({done.returncode}):\n{tail}")


def _ldaps_answers(host: str, ca_file: str) -> bool:
    if not os.path.exists(ca_file):
        return False
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    with (
        contextlib.suppress(OSError),
        socket.create_connection((host, 636), timeout=0.5) as raw,
        context.wrap_socket(raw),
    ):
        return True
    return False


@contextlib.contextmanager
def start_samba_dc(realm: str = REALM, domain: str = DOMAIN) -> Iterator[SambaDC]:
    """Provision and start a DC of its own domain (`realm` its DNS name upper-cased, `domain` its NetBIOS name);
    yield once LDAPS answers with its certificate; stop it by its pid on exit. Several may run side by side, each
    on its own loopback address."""
    samba, _ = samba_binaries()
    parent = tempfile.mkdtemp(prefix="samba-dc-")
    target = os.path.join(parent, "dc")
    try:
        host = _loopback_address()
        os.makedirs(target)
        provision(target, host, realm, domain)
        conf = os.path.join(target, "etc", "smb.conf")
        log_path = os.path.join(parent, "samba.log")
        with running([samba, "-i", "-M", "single", "-s", conf], cwd=parent, log_path=log_path) as proc:
            dc = SambaDC(host=host, pid=proc.pid, target_dir=target, realm=realm)
            wait_until(lambda: _ldaps_answers(host, dc.ca_file), START_TIMEOUT_S, "samba (LDAPS)", proc)
            yield dc
    finally:
        shutil.rmtree(parent, ignore_errors=True)
