"""Who may call the vault: bearer tokens checked like Key Vault does (signature, audience, expiry, tenant) plus RBAC."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from emulators.common.tokens import InvalidToken, TokenSigner, verifier_from_jwks, verify_with_key

VAULT_RESOURCE = "https://vault.azure.net"
AUDIENCES = [VAULT_RESOURCE, VAULT_RESOURCE + "/"]


@dataclass(frozen=True)
class Principal:
    tenant: str
    app_id: str | None
    object_id: str | None

    def ids(self) -> set[str]:
        return {i.lower() for i in (self.app_id, self.object_id) if i}


class AuthFailure(Exception):
    """Why a request is refused: 401 (not authenticated) or 403 (authenticated, not allowed)."""

    def __init__(self, status: int, message: str, inner_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.inner_code = inner_code


class KeySource:
    """Where the token-signing public key comes from: a PEM, a TokenSigner, or a JWKS URL fetched on first use."""

    def __init__(
        self, *, public_pem: bytes | None = None, jwks_url: str | None = None, jwks_ca_path: str | None = None
    ) -> None:
        if (public_pem is None) == (jwks_url is None):
            raise ValueError("give exactly one of public_pem or jwks_url")
        self._pem = public_pem
        self._jwks_url = jwks_url
        self._jwks_ca_path = jwks_ca_path
        self._lock = threading.Lock()

    @classmethod
    def from_signer(cls, signer: TokenSigner) -> KeySource:
        return cls(public_pem=signer.public_pem)

    @property
    def refreshable(self) -> bool:
        return self._jwks_url is not None

    def _fetch(self) -> bytes:
        assert self._jwks_url is not None
        context = ssl.create_default_context(cafile=self._jwks_ca_path) if self._jwks_ca_path else None
        with urllib.request.urlopen(self._jwks_url, timeout=10, context=context) as response:  # noqa: S310 (configured URL)
            jwks: dict[str, Any] = json.loads(response.read())
        return verifier_from_jwks(jwks)

    async def pem(self, refresh: bool = False) -> bytes:
        if self._pem is not None and not (refresh and self.refreshable):
            return self._pem
        pem = await asyncio.get_running_loop().run_in_executor(None, self._fetch)
        with self._lock:
            self._pem = pem
        return pem


class Authorizer:
    """Checks `Authorization: Bearer <jwt>`; `authorized` (app ids or object ids) limits callers, None allows all."""

    def __init__(
        self,
        keys: KeySource,
        tenant: str,
        *,
        authorized: Iterable[str] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.keys = keys
        self.tenant = tenant
        self._now = now
        self.authorized: set[str] | None = None
        self.set_authorized(authorized)

    def set_authorized(self, principals: Iterable[str] | None) -> None:
        self.authorized = None if principals is None else {p.lower() for p in principals}

    async def check(self, header: str | None) -> Principal:
        if not header or not header.lower().startswith("bearer "):
            raise AuthFailure(401, "AKV10000: Request is missing a Bearer or PoP token.")
        token = header[7:].strip()
        claims = await self._verify(token)
        tenant = str(claims.get("tid", ""))
        if tenant.lower() != self.tenant.lower():
            raise AuthFailure(
                401,
                f"AKV10032: Invalid issuer. Expected a token from tenant {self.tenant}, "
                f"found one from tenant {tenant}.",
            )
        principal = Principal(
            tenant=tenant, app_id=_opt(claims.get("appid") or claims.get("azp")), object_id=_opt(claims.get("oid"))
        )
        if self.authorized is not None and not (principal.ids() & self.authorized):
            raise AuthFailure(
                403,
                "Caller is not authorized to perform action on resource.\r\n"
                f"Caller: appid={principal.app_id};oid={principal.object_id}\r\n"
                "Action: 'Microsoft.KeyVault/vaults/secrets/*'",
                inner_code="ForbiddenByRbac",
            )
        return principal

    async def _verify(self, token: str) -> dict[str, Any]:
        now = self._now() if self._now else None
        try:
            return verify_with_key(token, await self.keys.pem(), AUDIENCES, now)
        except InvalidToken as first:
            if not self.keys.refreshable:
                raise AuthFailure(401, f"AKV10022: {first}") from first
            try:  # the identity emulator may have restarted with a new key
                return verify_with_key(token, await self.keys.pem(refresh=True), AUDIENCES, now)
            except InvalidToken as exc:
                raise AuthFailure(401, f"AKV10022: {exc}") from exc


def _opt(value: Any) -> str | None:
    return str(value) if value else None
