"""The connector package: pure domain, services, adapters and settings. Nothing here does work at import time."""
