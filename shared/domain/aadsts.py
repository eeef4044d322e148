"""Entra sign-in error numbers (AADSTS) in plain words: what it means and what the admin should do."""

from __future__ import annotations

REMEDIES: dict[int, tuple[str, str]] = {
    700016: (
        "The app is not known in this tenant: admin consent was not given, or the tenant or client id is wrong.",
        "Give admin consent (Connect again), or check the tenant id / domain and the application (client) id.",
    ),
    7000215: (
        "The client secret is wrong. Often the secret's ID was pasted instead of its Value.",
        "In App registrations > Certificates & secrets, create a new secret and paste its Value, not its ID.",
    ),
    7000222: (
        "The client secret has expired.",
        "Create a new client secret for the app and update the connection with it.",
    ),
    65001: (
        "Admin consent has not been given for the permissions this app needs.",
        "Have a Global or Privileged Role Administrator grant admin consent for the app.",
    ),
    65004: ("The administrator declined consent.", "Start the connection again and accept the permissions."),
    90002: (
        "The tenant was not found. The domain may be unverified, or the tenant is in another cloud.",
        "Check the tenant id or verified domain, and that the connection's cloud (global, US Gov, China) is right.",
    ),
    500011: (
        "The resource (Microsoft Graph) was not found in the tenant, usually the wrong cloud or scope.",
        "Check the connection's cloud; each national cloud needs its own app registration.",
    ),
    700027: (
        "The certificate assertion was rejected: the certificate is not the one registered for the app.",
        "Upload this certificate's public key to the app registration, or provide the registered certificate.",
    ),
    7000112: (
        "The application is disabled in this tenant.",
        "Enable the app's enterprise application (service principal).",
    ),
    # The administrator's sign-in during consent (authorization code redemption).
    50011: (
        "The redirect URI is not one registered for the operator app.",
        "Add {PUBLIC_BASE_URL}/api/consent/callback as a Web redirect URI of the operator app registration.",
    ),
    50020: (
        "The account that signed in belongs to another tenant.",
        "Sign in with an administrator account of the connection's tenant.",
    ),
    54005: ("The sign-in answer was already used.", "Start the connection again."),
    70008: ("The sign-in took too long and its code expired.", "Start the connection again and sign in promptly."),
    700005: (
        "The sign-in happened in another tenant than the connection's.",
        "Sign in with an administrator account of the connection's tenant.",
    ),
    50148: ("The sign-in answer does not belong to this consent link.", "Start the connection again."),
    501481: ("The sign-in answer does not belong to this consent link.", "Start the connection again."),
}


def explain(code: int | None) -> tuple[str, str]:
    if code in REMEDIES:
        return REMEDIES[code]
    if code is None:
        return (
            "The sign-in endpoint could not be reached or gave no error number.",
            "Check the network and the cloud's login endpoint, then try again.",
        )
    return (
        f"Entra refused the token request (AADSTS{code}).",
        f"Look up AADSTS{code} in Microsoft's error reference; check the app registration and consent.",
    )
