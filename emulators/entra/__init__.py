"""An emulated Entra ID tenant (login endpoints, Microsoft Graph v1.0) over loopback HTTPS, for tests and the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulators.entra.server import EntraEmulator

__all__ = ["EntraEmulator"]


def __getattr__(name: str) -> Any:
    if name == "EntraEmulator":  # imported on first use: `import emulators.entra.seed` stays light
        from emulators.entra.server import EntraEmulator

        return EntraEmulator
    raise AttributeError(name)
