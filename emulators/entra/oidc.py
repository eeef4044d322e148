"""OpenID Connect sign-in: the authorization endpoint (which account the browser signs in with, one-time codes bound
to client, redirect URI, PKCE and nonce) and the authorization_code grant (ID token with tid, oid, wids...).

Learn: "Microsoft identity platform and OAuth 2.0 authorization code flow", "OpenID Connect on the Microsoft
identity platform", "ID token claims reference", "Microsoft Entra authentication and authorization error codes"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from emulators.common.tokens import TokenSigner
from emulators.entra.app_roles import role_claim
from emulators.entra.delegated import consent_error, identity_claims
from emulators.entra.errors import EntraError
from emulators.entra.issuance import authenticate_client, tenant_or_error
from emulators.entra.model import DIRECTORY_ROLE_TEMPLATES, MEMBER_ROLE_TEMPLATE, App, AuthCode, User
from emulators.entra.seed import guid_from
from emulators.entra.state import Tenant, World

CODE_LIFETIME_S = 600.0  # "Authorization codes are short lived. Typically, they expire after about 10 minutes."
ID_TOKEN_LIFETIME_S = 3600
MULTI_TENANT_AUTHORITIES = ("common", "organizations")
PROMPTS = ("login", "select_account", "consent", "none")
WIDS_CLAIMS = ("DirectoryRole", "All")


def redirect(uri: str, params: Mapping[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(dict(params))}"


def _app_for(world: World, client_id: str, tenant: Tenant | None) -> App:
    app = world.apps.get(client_id)
    if app is None or (tenant is not None and not app.usable_in(tenant.id, tenant.registry)):
        where = f"the directory '{tenant.display_name}'" if tenant else "any directory"
        raise EntraError(
            400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found in {where}."
        )
    return app


def signed_in_account(world: World, tenant: Tenant | None, login_hint: str | None) -> tuple[Tenant, User]:
    """The account the browser signs in with: the login_hint, else the one chosen through the control API, else the
    tenant's seeded Global Administrator."""
    found: tuple[Tenant, User] | None = None
    if login_hint:
        for candidate in world.tenants.values():
            uid = candidate.directory.upn_index.get(login_hint.lower())
            if uid is not None:
                found = (candidate, candidate.directory.users[uid])
                break
        if found is None:
            where = tenant.display_name if tenant else "any"
            raise EntraError(
                400,
                "invalid_request",
                50034,
                f"The user account {login_hint} does not exist in "
                f"the {where} directory. To sign into this application, the account must be added "
                "to the directory.",
            )
    elif world.browser_user is not None:
        found = next(
            (
                (t, t.directory.users[world.browser_user])
                for t in world.tenants.values()
                if world.browser_user in t.directory.users
            ),
            None,
        )
    elif tenant is not None and tenant.admin_user_id:
        found = (tenant, tenant.directory.users[tenant.admin_user_id])
    if found is None:
        raise EntraError(
            400, "interaction_required", 50058, "A silent sign-in request was sent but no user is signed in."
        )
    home, user = found
    upn = user.props.get("userPrincipalName", "")
    if user.state != "active":
        raise EntraError(400, "invalid_request", 50034, f"The user account {upn} does not exist in the directory.")
    if tenant is not None and home.id != tenant.id:
        raise EntraError(
            400,
            "invalid_request",
            50020,
            f"User account '{upn}' from identity provider "
            f"'https://sts.windows.net/{home.id}/' does not exist in tenant '{tenant.display_name}' "
            "and cannot access the application in that tenant. The account needs to be added as an "
            "external user in the tenant first.",
        )
    if user.props.get("accountEnabled") is False:
        raise EntraError(400, "invalid_request", 50057, "The user account is disabled.")
    return home, user


def checked_client(world: World, tenant_key: str, query: Mapping[str, str]) -> Tenant | None:
    """The tenant of the authority (None for common/organizations), once the app and its redirect URI are known;
    EntraError for what Entra shows as an error page before any sign-in."""
    multi = tenant_key.lower() in MULTI_TENANT_AUTHORITIES
    tenant = None if multi else tenant_or_error(world, tenant_key)
    client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
    app = _app_for(world, client_id, tenant)
    if redirect_uri not in app.redirect_uris:
        raise EntraError(
            400,
            "invalid_request",
            50011,
            f"The redirect URI '{redirect_uri}' specified in the "
            f"request does not match the redirect URIs configured for the application '{client_id}'.",
        )
    return tenant


def authorize(
    world: World, tenant_key: str, query: Mapping[str, str], account: tuple[Tenant, User] | None = None
) -> str:
    """Sign the browser's account in and return where to send it (the redirect URI with a code or an error).
    Raises EntraError for what Entra shows as an error page (unknown tenant/app, redirect URI not registered...).
    `account`: who signed in on the sign-in page (emulators/entra/signin_page.py); else `signed_in_account`."""
    tenant = checked_client(world, tenant_key, query)
    client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
    state = {"state": query["state"]} if "state" in query else {}

    def error(code: str, number: int, text: str) -> str:
        return redirect(redirect_uri, {"error": code, "error_description": f"AADSTS{number}: {text}", **state})

    if query.get("response_type") != "code":
        return error(
            "unsupported_response_type",
            700054,
            f"response_type '{query.get('response_type', '')}' is not enabled for the application.",
        )
    scope = query.get("scope", "")
    if not scope.split():
        return error("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
    challenge = query.get("code_challenge")
    method = query.get("code_challenge_method") or "plain"
    if challenge is not None and (method not in ("S256", "plain") or not 43 <= len(challenge) <= 128):
        return error("invalid_request", 9002313, "Invalid request. Request is malformed or invalid.")
    if query.get("prompt") not in (None, *PROMPTS):
        return error("invalid_request", 9002313, "Invalid request. Request is malformed or invalid.")
    home, user = account or signed_in_account(world, tenant, query.get("login_hint"))
    app = _app_for(world, client_id, home)  # an organizations sign-in still needs the app to be usable there
    refused = consent_error(home, app, user, scope, query.get("prompt"))  # emulators/entra/delegated.py
    if refused is not None:
        return error(*refused)
    code = "1.A" + secrets.token_urlsafe(48)
    world.codes[code] = AuthCode(
        client_id=client_id,
        redirect_uri=redirect_uri,
        tenant_id=home.id,
        user_id=user.id,
        scope=scope,
        nonce=query.get("nonce"),
        challenge=challenge,
        challenge_method=method,
        issued_at=world.clock.now(),
    )
    world.issued.append(code)
    return redirect(redirect_uri, {"code": code, **state, "session_state": str(uuid.uuid4())})


def _invalid_grant(number: int, text: str) -> EntraError:
    return EntraError(400, "invalid_grant", number, text)


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if code.challenge is None:
        return
    if not verifier:
        raise _invalid_grant(
            501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
        )
    if code.challenge_method == "S256":
        derived = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    else:
        derived = verifier
    if not hmac.compare_digest(derived, code.challenge):
        raise _invalid_grant(
            50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE."
        )


def redeem_code(
    world: World, signer: TokenSigner, tenant_key: str, form: Mapping[str, str], audiences: set[str], base: str
) -> dict[str, Any]:
    """The authorization_code grant: authenticate the client, check the code, return the token response."""
    now = world.clock.now()
    tenant = None if tenant_key.lower() in MULTI_TENANT_AUTHORITIES else tenant_or_error(world, tenant_key)
    app = _app_for(world, form.get("client_id", ""), None)
    acr = authenticate_client(app, form, audiences, now)
    value = form.get("code")
    if not value:
        raise EntraError(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'code'."
        )
    code = world.codes.get(value)
    if code is None:
        raise _invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
    if code.redeemed:
        raise _invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new "
            "valid code or use an existing refresh token.",
        )
    if now - code.issued_at > CODE_LIFETIME_S:
        raise _invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to "
            "inactivity. Send a new interactive authorization request for this user and resource.",
        )
    if code.client_id != app.client_id:
        raise _invalid_grant(70000, "The provided authorization code was issued to another client.")
    if tenant is not None and tenant.id != code.tenant_id:
        raise _invalid_grant(
            700005, "Provided Authorization Code is intended to use against other tenant, thus rejected."
        )
    if form.get("redirect_uri") != code.redirect_uri:
        raise _invalid_grant(
            50011,
            f"The redirect URI '{form.get('redirect_uri', '')}' specified in the request "
            "does not match the redirect URI the authorization code was issued for.",
        )
    _check_pkce(code, form.get("code_verifier"))
    code.redeemed = True
    home = world.tenants[code.tenant_id]
    user = home.directory.users[code.user_id]
    body = _tokens(world, signer, app, home, user, code, acr, base)
    world.issued.extend([v for k, v in body.items() if k in ("id_token", "access_token")])
    if form.get("code_verifier"):
        world.issued.append(form["code_verifier"])
    return body


def _tokens(
    world: World, signer: TokenSigner, app: App, home: Tenant, user: User, code: AuthCode, acr: str, base: str
) -> dict[str, Any]:
    scopes = code.scope.split()
    issuer = f"{base}/{home.id}/v2.0"
    subject = base64.urlsafe_b64encode(hashlib.sha256(f"{app.client_id}|{user.id}".encode()).digest()).decode()
    delegated = " ".join(
        [s for s in scopes if s not in ("openid", "profile", "email", "offline_access")] or ["User.Read"]
    )
    access = signer.issue(
        {
            "aud": home.graph_resource,
            "iss": issuer,
            "tid": home.id,
            "oid": user.id,
            "sub": subject[:43],
            "scp": delegated,
            "appid": app.client_id,
            "azp": app.client_id,
            "azpacr": acr,
            "idtyp": "user",
            "upn": user.props.get("userPrincipalName"),
            "ver": "2.0",
        },
        lifetime_s=world.settings.token_lifetime_s,
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(sorted({*scopes, *delegated.split()} - {"offline_access"})),
        "expires_in": world.settings.token_lifetime_s,
        "ext_expires_in": world.settings.token_lifetime_s,
        "access_token": access,
    }
    if "openid" in scopes:
        claims: dict[str, Any] = {
            "aud": app.client_id,
            "iss": issuer,
            "tid": home.id,
            "oid": user.id,
            "sub": subject[:43],
            "preferred_username": user.props.get("userPrincipalName"),
            "name": user.props.get("displayName"),
            "ver": "2.0",
            "rh": "0.A" + guid_from(user.id)[:8],
        }
        if code.nonce is not None:
            claims["nonce"] = code.nonce
        claims.update(identity_claims(home, app, user, scopes, "https://graph.microsoft.com/v1.0"))
        assigned = role_claim(world, app.client_id, home.id, user.id)
        if assigned:  # app roles assigned to the user (emulators/entra/app_roles.py)
            claims["roles"] = assigned
        if app.group_membership_claims in WIDS_CLAIMS:
            roles = {DIRECTORY_ROLE_TEMPLATES[r] for r in user.roles if r in DIRECTORY_ROLE_TEMPLATES}
            claims["wids"] = sorted(roles | {MEMBER_ROLE_TEMPLATE})
        body["id_token"] = signer.issue(claims, lifetime_s=ID_TOKEN_LIFETIME_S)
    return body
