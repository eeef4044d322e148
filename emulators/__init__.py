"""Local stand-ins for Entra ID, Microsoft Graph and Key Vault, used by tests, the demo and benchmarks."""
