"""Pieces every emulator shares: loopback TLS and token signing."""
