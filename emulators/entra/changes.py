"""Marking the directory's changes: which objects each touched, and when it is complete (for the consistency lag)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from emulators.entra.model import MemberKind

if TYPE_CHECKING:
    from emulators.entra.directory import Directory

F = TypeVar("F", bound=Callable[..., Any])


class ChangeTracker(Protocol):
    """Told which objects each change touched, and when a change is complete (see emulators/entra/consistency.py)."""

    def touched(self, kind: MemberKind, object_id: str) -> None: ...

    def commit(self, directory: Directory) -> None: ...


def change(method: F) -> F:
    """A change to the directory: when the outermost one returns, the tracker (if any) takes what it wrote."""

    @functools.wraps(method)
    def wrapper(self: Directory, *args: Any, **kwargs: Any) -> Any:
        self.depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self.depth -= 1
            if self.depth == 0 and self.tracker is not None:
                self.tracker.commit(self)

    return cast(F, wrapper)
