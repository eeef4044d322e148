"""The Key Vault emulator as an object: HTTPS on 127.0.0.1 on its own thread; `.vault_url`, `.ca_path`, `.control`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from types import TracebackType

from emulators.common.threaded import ThreadedAiohttpServer
from emulators.common.tls import LoopbackTLS, make_loopback_tls
from emulators.common.tokens import TokenSigner
from emulators.keyvault.auth import Authorizer, KeySource
from emulators.keyvault.control import Control
from emulators.keyvault.handlers import SecretsApi
from emulators.keyvault.rules import CREATE_LIMIT, CREATE_WINDOW_S, DELETE_DELAY_S
from emulators.keyvault.state import Clock, Vault

DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"


class KeyVaultEmulator:
    """A vault that trusts tokens signed by `signer` (or `public_pem`, or the keys at `jwks_url`) for `tenant`.

    `authorized`: app ids / object ids allowed to use the vault (RBAC); None lets any valid token in.
    `tls`: reuse a CA (e.g. the identity emulator's) so one CA file trusts both; else a new CA is made.
    `create_limit`: secret creates per `create_window_s` before 429 (Azure: 300 per 10 s); None = unlimited.
    `delete_delay_s`: seconds (emulator clock) a delete takes to complete (default DELETE_DELAY_S).
    """

    def __init__(
        self,
        *,
        tenant: str,
        signer: TokenSigner | None = None,
        public_pem: bytes | None = None,
        jwks_url: str | None = None,
        jwks_ca_path: str | None = None,
        authorized: Iterable[str] | None = None,
        login_url: str = DEFAULT_LOGIN_URL,
        tls: LoopbackTLS | None = None,
        port: int = 0,
        page_size: int = 25,
        create_limit: int | None = CREATE_LIMIT,
        create_window_s: float = CREATE_WINDOW_S,
        delete_delay_s: float = DELETE_DELAY_S,
    ) -> None:
        if signer is not None:
            if public_pem is not None or jwks_url is not None:
                raise ValueError("give one of signer, public_pem or jwks_url")
            keys = KeySource.from_signer(signer)
        else:
            keys = KeySource(public_pem=public_pem, jwks_url=jwks_url, jwks_ca_path=jwks_ca_path)
        self.tenant = tenant
        self.clock = Clock()
        self.vault = Vault(
            self.clock, create_limit=create_limit, create_window_s=create_window_s, delete_delay_s=delete_delay_s
        )
        self.authorizer = Authorizer(keys, tenant, authorized=authorized)
        self.control = Control(self.vault, self.clock, page_size=page_size)
        self.control.attach(self.authorizer)
        self._api = SecretsApi(self.vault, self.authorizer, self.control, login_url=login_url)
        self._tls = tls
        self._own_tls_dir: str | None = None
        self._port = port
        self._server: ThreadedAiohttpServer | None = None

    @property
    def vault_url(self) -> str:
        if not self._api.vault_url:
            raise RuntimeError("the Key Vault emulator is not running")
        return self._api.vault_url

    @property
    def ca_path(self) -> str:
        return self._require_tls().ca_path

    @property
    def bundle_path(self) -> str:
        return self._require_tls().bundle_path

    def _require_tls(self) -> LoopbackTLS:
        if self._tls is None:
            raise RuntimeError("the Key Vault emulator is not running")
        return self._tls

    def start(self) -> KeyVaultEmulator:
        if self._tls is None:
            self._own_tls_dir = tempfile.mkdtemp(prefix="kv-emulator-")
            self._tls = make_loopback_tls(self._own_tls_dir)
        self._server = ThreadedAiohttpServer(
            self._api.app(), port=self._port, ssl_context=self._tls.server_context, name="keyvault-emulator"
        )
        port = self._server.start()
        self._api.vault_url = f"https://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._api.vault_url = ""
        if self._own_tls_dir is not None:
            shutil.rmtree(self._own_tls_dir, ignore_errors=True)
            self._own_tls_dir = None
            self._tls = None

    def __enter__(self) -> KeyVaultEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
