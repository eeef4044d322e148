"""Tokens for a tenant: azure-identity credentials (client secret or certificate) per cloud, and AADSTS errors
turned into AuthenticationFailed with a plain cause and fix."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from azure.core.exceptions import ClientAuthenticationError

from shared.domain.aadsts import explain
from shared.errors import AuthenticationFailed, CredentialUnusable

AADSTS = re.compile(r"AADSTS(\d+)")


class CredentialTokens:
    """A TokenSource over an async azure-identity credential (which caches tokens until near expiry). Requests
    that start together wait for one token request (the credential alone would send one each: its cache is empty
    until the first answer arrives)."""

    def __init__(self, credential: Any, scope: str) -> None:
        self.credential = credential
        self.scope = scope
        self._one_at_a_time = asyncio.Lock()

    async def token(self) -> str:
        try:
            async with self._one_at_a_time:  # cheap once cached: get_token returns the cached token at once
                access = await self.credential.get_token(self.scope)
        except ClientAuthenticationError as exc:
            raise auth_error(exc) from None
        return str(access.token)

    async def close(self) -> None:
        await self.credential.close()


def auth_error(exc: Exception) -> AuthenticationFailed:
    text = str(getattr(exc, "message", "") or exc)
    match = AADSTS.search(text)
    code = int(match.group(1)) if match else None
    cause, fix = explain(code)
    return AuthenticationFailed(
        f"Token request failed{f' (AADSTS{code})' if code else ''}: {cause}", aadsts=code, cause=cause, fix=fix
    )


def make_credential(
    *,
    tenant_id: str,
    client_id: str,
    login_url: str,
    secret: str | None = None,
    certificate_pem: bytes | None = None,
    ca_path: str | None = None,
    emulated: bool = False,
) -> Any:
    """An async credential for the app in that tenant. Exactly one of secret / certificate_pem. CredentialUnusable
    when the certificate cannot sign a client assertion (not RSA, under 2048 bits, key of another certificate)."""
    from azure.identity.aio import CertificateCredential, ClientSecretCredential

    options: dict[str, Any] = {"authority": login_url}
    if emulated:
        options["disable_instance_discovery"] = True
    if ca_path:
        options["connection_verify"] = ca_path
    if certificate_pem is not None:
        from shared.adapters.certificates import certificate_problem
        from shared.domain.secret_values import Secret

        problem = certificate_problem(Secret(certificate_pem.decode("utf-8", "replace")), check_validity=False)
        if problem is not None:  # the SDK would raise a bare ValueError; an expiry is Entra's to refuse
            raise CredentialUnusable(problem)
        return CertificateCredential(tenant_id, client_id, certificate_data=certificate_pem, **options)
    if secret is None:
        raise ValueError("a client secret or a certificate is needed")
    return ClientSecretCredential(tenant_id, client_id, secret, **options)
