"""A test-only Entra token endpoint (client credentials) over HTTPS, until the real Entra emulator is wired in."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from emulators.common.threaded import ThreadedAiohttpServer
from emulators.common.tls import LoopbackTLS
from emulators.common.tokens import TokenSigner


@dataclass
class _Client:
    secret: str
    object_id: str


@dataclass
class TokenStub:
    """Serves `/{tenant}/oauth2/v2.0/token`, the OpenID configuration and the JWKS; signs with `signer`."""

    tls: LoopbackTLS
    tenant: str
    signer: TokenSigner = field(default_factory=TokenSigner)
    _clients: dict[str, _Client] = field(default_factory=dict)
    _server: ThreadedAiohttpServer | None = None
    authority: str = ""
    tokens_issued: int = 0

    def register_client(self, client_id: str | None = None, secret: str | None = None) -> tuple[str, str, str]:
        """Add an app registration; returns (client_id, client_secret, service principal object id)."""
        client_id = client_id or str(uuid.uuid4())
        secret = secret or secrets.token_urlsafe(24)
        object_id = str(uuid.uuid4())
        self._clients[client_id] = _Client(secret, object_id)
        return client_id, secret, object_id

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self._keys)
        return app

    async def _openid(self, request: web.Request) -> web.Response:
        base = f"{self.authority}/{request.match_info['tenant']}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        return web.json_response(self.signer.jwks())

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        tenant = request.match_info["tenant"]
        client = self._clients.get(str(form.get("client_id", "")))
        if tenant != self.tenant:
            return _oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: only client_credentials is supported.")
        if client is None or form.get("client_secret") != client.secret:
            return _oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        scope = str(form.get("scope", "")).split()[0] if form.get("scope") else ""
        if not scope.endswith("/.default"):
            return _oauth_error(400, "invalid_scope", "AADSTS1002012: The provided scope is invalid.")
        claims = {
            "tid": tenant,
            "aud": scope.removesuffix("/.default"),
            "appid": form["client_id"],
            "oid": client.object_id,
            "sub": client.object_id,
            "iss": f"{self.authority}/{tenant}/v2.0",
        }
        self.tokens_issued += 1
        token = self.signer.issue(claims)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def start(self) -> TokenStub:
        self._server = ThreadedAiohttpServer(self._app(), ssl_context=self.tls.server_context, name="token-stub")
        port = self._server.start()
        self.authority = f"https://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> TokenStub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description, "error_codes": []}, status=status)
