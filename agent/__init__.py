"""The Entra connector's on-prem Active Directory agent: reads AD over LDAPS, dials out to the function app only."""

__version__ = "0.1.0"
