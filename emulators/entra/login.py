"""Login endpoints: tenant discovery, signing keys, the token endpoint (client credentials, authorization code),
admin consent and the OpenID Connect authorization endpoint (emulators/entra/oidc.py)."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from aiohttp import web

from emulators.common.tokens import TokenSigner
from emulators.entra import signin_page
from emulators.entra.clouds import discovery_fields, graph_resource_named
from emulators.entra.discovery import v1_document
from emulators.entra.errors import EntraError
from emulators.entra.faults import Faults
from emulators.entra.issuance import issue_client_credentials_token, tenant_or_error
from emulators.entra.model import CONSENT_ADMIN_ROLES, ServicePrincipal
from emulators.entra.oidc import authorize, checked_client, redeem_code, signed_in_account
from emulators.entra.seed import guid_from
from emulators.entra.state import Tenant, World

DECISIONS = ("accept", "decline", "cancel", "consent_required")
NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


class LoginService:
    def __init__(self, world: World, signer: TokenSigner, faults: Faults) -> None:
        self.world = world
        self.signer = signer
        self.faults = faults

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration),
            web.get("/{tenant}/.well-known/openid-configuration", self.openid_configuration),
            web.get("/{tenant}/discovery/v2.0/keys", self.keys),
            web.get("/{tenant}/discovery/keys", self.keys),
            web.post("/{tenant}/oauth2/v2.0/token", self.token),
            web.get("/{tenant}/v2.0/adminconsent", self.admin_consent),
            web.get("/{tenant}/adminconsent", self.admin_consent),
            web.get("/{tenant}/oauth2/v2.0/authorize", self.authorize),
            web.post("/{tenant}/oauth2/v2.0/authorize", self.authorize_signed_in),
        ]

    def _error(self, exc: EntraError) -> web.Response:
        return web.json_response(exc.body(self.world.clock.now()), status=exc.status, headers=NO_STORE)

    def _fault(self, request: web.Request, endpoint: str) -> web.Response | None:
        self.faults.count(endpoint)
        decision = self.faults.decide(request.path, endpoint, request.match_info.get("tenant"))
        if decision is None or decision.kind == "latency":
            return None
        if decision.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never written: the transport is gone
        status = int(decision.kind)
        headers = dict(NO_STORE)
        if status == 429 and decision.retry_after is not None:
            headers["Retry-After"] = str(decision.retry_after)
        exc = EntraError(
            status,
            "temporarily_unavailable",
            50196 if status == 429 else 90033,
            "The server is temporarily unavailable. Retry the request.",
        )
        return web.json_response(exc.body(self.world.clock.now()), status=status, headers=headers)

    async def openid_configuration(self, request: web.Request) -> web.Response:
        faulted = self._fault(request, "openid")
        if faulted is not None:
            return faulted
        key = request.match_info["tenant"]
        base = f"https://{request.host}"
        cloud = "global"
        if key.lower() in ("common", "organizations", "consumers"):
            segment, issuer_tenant = key, "{tenantid}"  # multi-tenant authorities: the issuer is a template
        else:
            with self.world.lock:
                try:
                    found = tenant_or_error(self.world, key)
                except EntraError as exc:
                    exc.error = "invalid_tenant"
                    return self._error(exc)
                segment = issuer_tenant = found.id  # a domain resolves to the GUID
                cloud = found.cloud  # the document names the tenant's cloud, whichever login host was asked
        if "/v2.0/" not in request.path:  # the v1 document: v1 endpoints, issuer https://sts.windows.net/{tid}/
            return web.json_response(v1_document(base, segment, issuer_tenant, cloud))
        return web.json_response(
            {
                "token_endpoint": f"{base}/{segment}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{segment}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{issuer_tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/{segment}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "roles", "appid", "azp", "oid"],
                "kerberos_endpoint": f"{base}/{segment}/kerberos",
                **discovery_fields(cloud),  # msgraph_host: the cloud's Graph host (the emulator serves it here)
                "cloud_graph_host_name": "graph.windows.net",
                "rbac_url": "https://pas.windows.net",
            }
        )

    async def keys(self, request: web.Request) -> web.Response:
        faulted = self._fault(request, "keys")
        if faulted is not None:
            return faulted
        key = request.match_info["tenant"]
        if key.lower() not in ("common", "organizations"):
            with self.world.lock:
                try:
                    tenant_or_error(self.world, key)
                except EntraError as exc:
                    return self._error(exc)
        return web.json_response(self.signer.jwks())

    async def token(self, request: web.Request) -> web.Response:
        faulted = self._fault(request, "token")
        if faulted is not None:
            return faulted
        form = {k: str(v) for k, v in (await request.post()).items()}
        key = request.match_info["tenant"]
        base = f"https://{request.host}"
        with self.world.lock:
            tenant = self.world.find_tenant(key)
            names = {key, *(tenant.domains if tenant else ()), *([tenant.id] if tenant else [])}
            audiences = {f"{base}/{name}/oauth2/v2.0/token" for name in names}
            audiences |= {f"{base}/{name}/v2.0" for name in names}
            try:
                if form.get("grant_type") == "authorization_code":
                    body = redeem_code(self.world, self.signer, key, form, audiences, base)
                else:
                    body = issue_client_credentials_token(self.world, self.signer, key, form, audiences)
            except EntraError as exc:
                return self._error(exc)
        return web.json_response(body, headers=NO_STORE)

    async def authorize(self, request: web.Request) -> web.Response:
        faulted = self._fault(request, "authorize")
        if faulted is not None:
            return faulted
        query, key = dict(request.query), request.match_info["tenant"]
        with self.world.lock:
            try:
                session = request.cookies.get(signin_page.SESSION_COOKIE)
                if signin_page.page_needed(self.world, query, session):
                    checked_client(self.world, key, query)  # app and redirect URI first, as Entra does
                    return _sign_in_page(request.path_qs, query.get("login_hint", ""))
                account = signin_page.session_user(self.world, session) if self.world.settings.sign_in_page else None
                location = authorize(self.world, key, query, account)
            except EntraError as exc:
                return _error_page(exc)
        return web.Response(status=302, headers={"Location": location, **NO_STORE})

    async def authorize_signed_in(self, request: web.Request) -> web.Response:
        """The sign-in page posted back: the username and password, then on as /authorize would go."""
        faulted = self._fault(request, "authorize")
        if faulted is not None:
            return faulted
        form = {k: str(v) for k, v in (await request.post()).items()}
        query, key = dict(request.query), request.match_info["tenant"]
        with self.world.lock:
            try:
                tenant = checked_client(self.world, key, query)
                if not self.world.settings.sign_in_page:
                    raise EntraError(400, "invalid_request", 900144, "The sign-in page is not in use.")
            except EntraError as exc:
                return _error_page(exc)
            try:
                account = signin_page.password_sign_in(self.world, tenant, form)
            except EntraError as exc:
                return _sign_in_page(request.path_qs, form.get("login", ""), exc)
            try:
                location = authorize(self.world, key, query, account)
            except EntraError as exc:
                return _error_page(exc)
            cookie = signin_page.session_cookie(signin_page.new_session(self.world, account[1]))
        return web.Response(status=302, headers={"Location": location, "Set-Cookie": cookie, **NO_STORE})

    async def admin_consent(self, request: web.Request) -> web.Response:
        faulted = self._fault(request, "adminconsent")
        if faulted is not None:
            return faulted
        q = request.query
        key = request.match_info["tenant"]
        with self.world.lock:
            try:
                return self._consent(key, q.get("client_id", ""), q.get("redirect_uri", ""), dict(q))
            except EntraError as exc:
                return _error_page(exc)

    def _consent(self, key: str, client_id: str, redirect_uri: str, q: dict[str, str]) -> web.Response:
        if key.lower() == "organizations":
            wanted = q.get("emulator_tenant") or next(iter(self.world.tenants), "")
            key = wanted
        if key.lower() == "common":
            raise EntraError(
                400,
                "invalid_request",
                90130,
                "Admin consent needs a tenant: use a tenant id, a verified domain or 'organizations'.",
            )
        tenant = tenant_or_error(self.world, key)
        app = self.world.apps.get(client_id)
        if app is None or not app.usable_in(tenant.id, tenant.registry):
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'.",
            )
        if redirect_uri not in app.redirect_uris:
            raise EntraError(
                400,
                "invalid_request",
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
                f"URIs configured for the application '{client_id}'. Make sure the redirect URI sent in "
                "the request matches one added to your application in the Azure portal.",
            )
        wrong_scope = _scope_problem(q.get("scope", ""), tenant)
        if wrong_scope is not None:  # checked once client and redirect URI are known good: an error redirect
            return _redirect(redirect_uri, {**wrong_scope, **({"state": q["state"]} if "state" in q else {})})
        decision = q.get("emulator_decision") or tenant.consent_decision or "accept"
        tenant.consent_decision = None
        _, account = signed_in_account(self.world, tenant, None)  # the browser's account must be of this tenant
        if decision == "accept" and not CONSENT_ADMIN_ROLES & set(account.roles):
            decision = "consent_required"  # only a Global or Privileged Role Administrator may grant Graph roles
        state = q.get("state")
        params: dict[str, str] = {}
        if decision == "accept":
            sp = grant_consent(self.world, tenant, client_id)
            granted = " ".join(f"{tenant.graph_resource}/{p}" for p in sorted(sp.permissions))
            params = {"admin_consent": "True", "tenant": tenant.id, "scope": granted}
        elif decision == "cancel":
            params = {
                "error": "access_denied",
                "error_subcode": "cancel",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
            }
        elif decision == "decline":
            params = {
                "admin_consent": "True",
                "tenant": tenant.id,
                "error": "consent_required",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
            }
        else:
            params = {
                "error": "consent_required",
                "error_description": "AADSTS90094: The grant requires admin permission.",
            }
        if state is not None:
            params["state"] = state
        return _redirect(redirect_uri, params)


def _redirect(redirect_uri: str, params: dict[str, str]) -> web.Response:
    separator = "&" if "?" in redirect_uri else "?"
    return web.Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(params)}"})


def _scope_problem(scope: str, tenant: Tenant) -> dict[str, str] | None:
    """Admin consent asks for `{Graph of the tenant's cloud}/.default` (Learn: "Access national cloud deployments
    with the Microsoft Graph SDKs": a scope naming Graph must use the Graph host of the tenant's cloud); another
    cloud's Graph, or a scope naming no resource, is an error redirect."""
    scopes = scope.split()
    resources = [s[: -len("/.default")] for s in scopes if s.endswith("/.default")]
    if not scopes or len(resources) != len(scopes):
        return {
            "error": "invalid_request",
            "error_description": "AADSTS70011: The provided request must include a 'scope' input parameter with "
            "/.default suffixed to the resource identifier.",
        }
    for resource in resources:
        graph = graph_resource_named(resource)
        if graph is not None and graph != tenant.graph_resource:
            return {
                "error": "invalid_resource",
                "error_description": f"AADSTS500011: The resource principal named {resource} was not found in the "
                f"tenant named {tenant.display_name}. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. You might have sent "
                "your authentication request to the wrong tenant.",
            }
    return None


def grant_consent(
    world: World, tenant: Tenant, client_id: str, permissions: list[str] | None = None
) -> ServicePrincipal:
    """Admin consent: the app gets a service principal in the tenant holding its requested permissions."""
    app = world.apps[client_id]
    sp = tenant.service_principals.get(client_id)
    if sp is None:
        sp = ServicePrincipal(id=guid_from(f"{tenant.id}|{client_id}"), client_id=client_id)
        sp.directory_roles |= tenant.sp_roles_on_consent.get(client_id, set())
        tenant.service_principals[client_id] = sp
    sp.consented = True
    sp.permissions = set(permissions if permissions is not None else app.required_permissions)
    sp.consented_at = world.clock.now()
    return sp


def _sign_in_page(action: str, username: str, error: EntraError | None = None) -> web.Response:
    headers = {**NO_STORE, "x-ms-ests-error": f"AADSTS{error.code}"} if error else NO_STORE
    body = signin_page.render_page(action, username, error)
    return web.Response(status=200, text=body, content_type="text/html", headers=headers)


def _error_page(exc: EntraError) -> web.Response:
    text = html.escape(f"AADSTS{exc.code}: {exc.description}")
    body = (
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
        f'<h1>Sorry, but we\'re having trouble signing you in.</h1><p id="error">{text}</p>'
        f"<p>Error code: AADSTS{exc.code}</p></body></html>"
    )
    return web.Response(
        status=exc.status, text=body, content_type="text/html", headers={"x-ms-ests-error": f"AADSTS{exc.code}"}
    )
