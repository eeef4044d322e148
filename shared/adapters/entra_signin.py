"""The operator app signing a tenant's administrator in (OpenID Connect, authorization code with PKCE): the
authorize URL, the code redeemed with MSAL's ConfidentialClientApplication (client secret or certificate PEM), and
the tenant's issuer and signing keys from its OpenID configuration. Errors become AuthenticationFailed or
TransientError; no code, token or verifier is ever logged (MSAL's token cache, which logs its events, is off)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlencode

import httpx

from shared.domain.aadsts import explain
from shared.errors import AuthenticationFailed, TransientError

log = logging.getLogger(__name__)
SIGN_IN_SCOPES = "openid profile"
TIMEOUT_S = 30.0


def authorize_url(
    login_url: str,
    tenant_id: str,
    client_id: str,
    redirect_uri: str,
    *,
    state: str,
    nonce: str,
    code_challenge: str,
    scope: str = SIGN_IN_SCOPES,
) -> str:
    """Where the browser signs an account in (the consenting administrator, or a tenant's user signing in to the
    product): the tenant's own v2 authorization endpoint. Built here rather than by MSAL: its
    get_authorization_request_url drops code_challenge, and initiate_auth_code_flow makes a PKCE verifier that
    would have to be stored, where this app derives it from its key (shared/domain/consent_state.py)."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
    )
    return f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/authorize?{query}"


class OperatorSignIn:
    """The operator app as a confidential client of one tenant (made per callback; holds no token afterwards)."""

    def __init__(
        self, client_id: str, material: str, login_url: str, tenant_id: str, http: Any, ca_bundle: str | None
    ) -> None:
        self.client_id = client_id
        self._material = material
        self.login_url = login_url.rstrip("/")
        self.authority = f"{self.login_url}/{tenant_id}"
        self._http = http
        self._ca_bundle = ca_bundle

    async def redeem(self, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token for an authorization code (MSAL is synchronous: it runs in a worker thread)."""
        result = await asyncio.to_thread(self._redeem, code, redirect_uri, code_verifier)
        if "error" in result:
            codes = result.get("error_codes") or []
            number = int(codes[0]) if codes and str(codes[0]).isdigit() else None
            cause, fix = explain(number)
            raise AuthenticationFailed(
                f"Code redemption failed{f' (AADSTS{number})' if number else ''}: {cause}",
                aadsts=number,
                cause=cause,
                fix=fix,
            )
        id_token = result.get("id_token")
        if not isinstance(id_token, str):
            raise AuthenticationFailed("The token response carried no ID token", cause="no ID token", fix="")
        return id_token

    def _redeem(self, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        import msal
        import requests

        session = requests.Session()
        if self._ca_bundle:  # local emulators only; REQUESTS_CA_BUNDLE from the environment would win over verify
            session.verify, session.trust_env = self._ca_bundle, False
        pem = self._material if self._material.lstrip().startswith("-----BEGIN") else None
        credential: Any = {"private_key": pem, "public_certificate": pem} if pem else self._material
        try:
            app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=credential,
                authority=self.authority,
                instance_discovery=False,  # the authority comes from the connection's cloud, never from input
                http_client=session,
                exclude_scopes=["offline_access"],  # no refresh token: nothing to keep
                token_cache=_no_token_cache(),
            )
            result: dict[str, Any] = app.acquire_token_by_authorization_code(
                code, scopes=[], redirect_uri=redirect_uri, data={"code_verifier": code_verifier}
            )
        except requests.RequestException as exc:
            raise TransientError(f"The sign-in service could not be reached: {type(exc).__name__}") from None
        except ValueError as exc:  # MSAL: an unusable credential or authority
            raise AuthenticationFailed(
                f"The operator app's credential could not be used: {type(exc).__name__}",
                cause="The operator credential in Key Vault is not a usable client secret or certificate PEM.",
                fix="Store the operator app's client secret Value or its certificate PEM (with key) in Key Vault.",
            ) from None
        finally:
            session.close()
        return result

    async def tenant_keys(self) -> tuple[str, dict[str, Any]]:
        """(issuer, JWKS) from the tenant's v2 OpenID configuration, fetched over TLS from its own login host."""
        config = await self._get_json(f"{self.authority}/v2.0/.well-known/openid-configuration")
        issuer, jwks_uri = config.get("issuer"), config.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise TransientError("The tenant's OpenID configuration has no issuer or jwks_uri")
        return issuer, await self._get_json(jwks_uri)

    async def multi_tenant_keys(self) -> tuple[str, dict[str, Any]]:
        """(issuer template with `{tenantid}`, JWKS) from the organizations v2 OpenID configuration: the issuer of a
        user's ID token is the template with the token's `tid` (Learn: "Convert single-tenant app to multitenant",
        validating the issuer)."""
        config = await self._get_json(f"{self.login_url}/organizations/v2.0/.well-known/openid-configuration")
        issuer, jwks_uri = config.get("issuer"), config.get("jwks_uri")
        if not isinstance(issuer, str) or "{tenantid}" not in issuer or not isinstance(jwks_uri, str):
            raise TransientError("The organizations OpenID configuration has no issuer template or jwks_uri")
        return issuer, await self._get_json(jwks_uri)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise TransientError(f"The sign-in service could not be reached: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TransientError(f"The sign-in service answered {response.status_code} for its configuration")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError("The sign-in service answered something that is not a JSON object")
        return body


def _no_token_cache() -> Any:
    import msal

    class NoTokenCache(msal.TokenCache):  # type: ignore[misc]
        """Keeps nothing (the ID token is checked once, then dropped), and so never logs a token event."""

        def add(self, event: Any, now: Any = None) -> None:
            return None

    return NoTokenCache()
