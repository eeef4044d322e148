"""An HTTPS Azure Key Vault (secrets data plane) for tests and the demo; also `python -m emulators.keyvault`."""
