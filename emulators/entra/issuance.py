"""The token endpoint's decisions for client credentials: which app, which credential, which roles, or which AADSTS."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any

from emulators.common.tokens import TokenSigner
from emulators.entra.assertion import verify_client_assertion
from emulators.entra.clouds import GRAPH_APP_ID, GRAPH_RESOURCES
from emulators.entra.discovery import v1_issuer
from emulators.entra.errors import EntraError
from emulators.entra.model import App
from emulators.entra.state import KNOWN_RESOURCES, Tenant, World

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def tenant_or_error(world: World, key: str) -> Tenant:
    tenant = world.find_tenant(key)
    if tenant is None:
        raise EntraError(
            400,
            "invalid_request",
            90002,
            f"Tenant '{key}' not found. Check to make sure you have the correct tenant ID and are signing into "
            "the correct cloud. Check with your subscription administrator, this may happen if there are no "
            "active subscriptions for the tenant.",
        )
    return tenant


def resource_of(scope: str, tenant: Tenant) -> str:
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise EntraError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = scopes[0][: -len("/.default")]
    known = KNOWN_RESOURCES.get(resource) or KNOWN_RESOURCES.get(resource.rstrip("/"))
    if known == GRAPH_APP_ID:
        known = tenant.graph_resource  # Graph by its app id: the tenant's cloud's Graph
    if known in GRAPH_RESOURCES and known != tenant.graph_resource:
        known = None  # another cloud's Graph has no service principal in this tenant (Learn: national clouds)
    if known is None:
        raise EntraError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant named {tenant.display_name}. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You might have sent your authentication request to the "
            "wrong tenant.",
        )
    return known


def issue_client_credentials_token(
    world: World,
    signer: TokenSigner,
    tenant_key: str,
    form: Mapping[str, str],
    audiences: set[str],
) -> dict[str, Any]:
    """Validate a client-credentials request and return the token response body, or raise EntraError."""
    now = world.clock.now()
    tenant = tenant_or_error(world, tenant_key)
    if form.get("grant_type") != "client_credentials":
        raise EntraError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
        )
    client_id = form.get("client_id", "")
    app = world.apps.get(client_id)
    sp = tenant.service_principals.get(client_id)
    if app is None or sp is None or app.cloud != tenant.registry:  # an app is registered in one cloud only
        raise EntraError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the wrong "
            "tenant.",
        )
    acr = authenticate_client(app, form, audiences, now)
    if not sp.consented:
        raise EntraError(
            400,
            "invalid_grant",
            65001,
            f"The user or administrator has not consented to use the application with ID '{client_id}' named "
            f"'{app.name}'. Send an interactive authorization request for this user and resource.",
        )
    resource = resource_of(form.get("scope", ""), tenant)
    # App-only tokens for Microsoft Graph and Key Vault are v1.0 tokens: both resources accept v1 (their
    # accessTokenAcceptedVersion), whichever endpoint (v1 or v2) issued them. Learn: "Access tokens in the
    # Microsoft identity platform" (token formats) and "Access token claims reference" (v1.0 claims).
    claims: dict[str, Any] = {
        "aud": resource,
        "iss": v1_issuer(tenant.id, tenant.cloud),
        "idp": v1_issuer(tenant.id, tenant.cloud),
        "tid": tenant.id,
        "appid": client_id,
        "appidacr": acr,
        "idtyp": "app",
        "oid": sp.id,
        "sub": sp.id,
        "ver": "1.0",
    }
    propagated = now >= sp.consented_at + world.settings.consent_propagation_s
    if resource == tenant.graph_resource and sp.permissions and propagated:
        claims["roles"] = sorted(sp.permissions)
    lifetime = world.settings.token_lifetime_s
    token = signer.issue(claims, lifetime_s=lifetime)  # wall-clock times: SDK token caches stay consistent
    return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}


def authenticate_client(app: App, form: Mapping[str, str], audiences: set[str], now: float) -> str:
    """Check the client secret or certificate assertion of a confidential client; return its `appidacr`."""
    client_id = app.client_id
    secret = form.get("client_secret")
    if secret is not None:
        match = next((s for s in app.secrets if hmac.compare_digest(s.value, secret)), None)
        if match is None:
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        if match.end <= now:
            raise EntraError(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
                "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
                "credentials for added security: https://aka.ms/certCreds.",
            )
        acr = "1"
    elif form.get("client_assertion_type") == JWT_BEARER and form.get("client_assertion"):
        # Assertions are signed JWTs like access tokens: both live on wall-clock time (SDKs stamp them so).
        verify_client_assertion(app, form["client_assertion"], audiences, time.time())
        acr = "2"
    else:
        raise EntraError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    return acr
