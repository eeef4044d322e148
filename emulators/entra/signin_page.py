"""The sign-in page of /authorize (switched on through the control API, `use_sign_in_page`): a username and
password form for the tenant's users, posted back to /authorize; a wrong password shows AADSTS50126 on the page;
a successful sign-in sets the emulator's session cookie (ESTSAUTH), so a later request without `prompt=login` or
`prompt=select_account` signs in silently. With the page off, the account is chosen as before (control API
`sign_in_browser`, `login_hint`, else the tenant's seeded admin).

Learn: "Microsoft identity platform and OAuth 2.0 authorization code flow" (the user signs in on the authorize
page; `prompt=login` forces credentials, `select_account` the account picker, `login_hint` pre-fills the
username); "Microsoft Entra authentication and authorization error codes" (50126 InvalidUserNameOrPassword,
50034 UserAccountNotFound, 50057 UserDisabled, 50020 user of another tenant)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from html import escape

from emulators.entra.errors import EntraError
from emulators.entra.model import User
from emulators.entra.state import Tenant, World

SESSION_COOKIE = "ESTSAUTH"
INTERACTIVE_PROMPTS = ("login", "select_account")
BAD_CREDENTIALS = "Error validating credentials due to invalid username or password."


def page_needed(world: World, query: Mapping[str, str], session: str | None) -> bool:
    """True when /authorize must show the page: it is switched on and the browser has no usable session here (or
    the request asks for interaction)."""
    if not world.settings.sign_in_page:
        return False
    return session_user(world, session) is None or query.get("prompt") in INTERACTIVE_PROMPTS


def session_user(world: World, session: str | None) -> tuple[Tenant, User] | None:
    uid = world.sign_in_sessions.get(session or "")
    if uid is None:
        return None
    for tenant in world.tenants.values():
        user = tenant.directory.users.get(uid)
        if user is not None and user.state == "active" and user.props.get("accountEnabled") is not False:
            return tenant, user
    return None


def password_sign_in(world: World, tenant: Tenant | None, form: Mapping[str, str]) -> tuple[Tenant, User]:
    """The account a posted username and password prove; EntraError (shown on the page) otherwise."""
    login, password = form.get("login", "").strip().lower(), form.get("passwd", "")
    if not login:
        raise EntraError(400, "invalid_request", 900144, "Enter your email, phone, or Skype.")
    found: tuple[Tenant, User] | None = None
    for candidate in world.tenants.values():
        uid = candidate.directory.upn_index.get(login)
        if uid is not None and candidate.directory.users[uid].state == "active":
            found = (candidate, candidate.directory.users[uid])
            break
    if found is None:
        where = tenant.display_name if tenant else "any"
        raise EntraError(
            400,
            "invalid_request",
            50034,
            f"The user account {login} does not exist in the {where} directory. To sign into this application, "
            "the account must be added to the directory.",
        )
    home, user = found
    stored = user.password or ""
    if not stored or not hmac.compare_digest(stored.encode(), password.encode()):
        raise EntraError(400, "invalid_grant", 50126, BAD_CREDENTIALS)
    if user.props.get("accountEnabled") is False:
        raise EntraError(400, "invalid_request", 50057, "The user account is disabled.")
    if tenant is not None and home.id != tenant.id:
        upn = user.props.get("userPrincipalName", "")
        raise EntraError(
            400,
            "invalid_request",
            50020,
            f"User account '{upn}' from identity provider 'https://sts.windows.net/{home.id}/' does not exist in "
            f"tenant '{tenant.display_name}' and cannot access the application in that tenant.",
        )
    return home, user


def new_session(world: World, user: User) -> str:
    value = secrets.token_urlsafe(32)
    world.sign_in_sessions[value] = user.id
    return value


def session_cookie(value: str) -> str:
    return f"{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=None"


def render_page(action: str, username: str = "", error: EntraError | None = None) -> str:
    """The form (no script, no inline style): username, password, posted back to `action` (the same /authorize
    URL with its query); an error of the last attempt shown above it."""
    problem = (
        f'<div id="error" role="alert"><p>{escape(error.description)}</p>'
        f'<p id="error-code">Error code: AADSTS{error.code}</p></div>'
        if error
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title>'
        '<link rel="icon" href="data:,"></head>'
        f"<body><main><h1>Sign in</h1>{problem}"
        f'<form method="post" action="{escape(action)}">'
        f'<label for="login">Email</label> <input id="login" name="login" type="email" value="{escape(username)}"'
        ' autocomplete="username" required> '
        '<label for="passwd">Password</label> <input id="passwd" name="passwd" type="password"'
        ' autocomplete="current-password" required> '
        '<button id="signin" type="submit">Sign in</button></form></main></body></html>'
    )
