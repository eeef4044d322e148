"""The agent's typed errors: each names an LDAP result code or a setting, and a message fit for the status page."""

from __future__ import annotations


class AgentError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LdapError(AgentError):
    """A search, read or modify the domain controller answered with an error, or could not be reached."""


class LdapBindError(LdapError):
    """The service account's bind was refused (bad password, disabled, TLS required): stops the job."""


class LdapConfigError(AgentError):
    """A setting of the agent's domain configuration is unusable (the code is the setting's name)."""


class ProtocolError(AgentError):
    """The function app refused a request of the agent (signature, lease, registration)."""
