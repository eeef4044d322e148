"""A user's password versions in Key Vault and what Entra's answer to a reset means for them (pure).

Order is the product's own: each version the connector writes carries a `seq` tag one above every earlier one, so
"newest" never depends on Key Vault's listing order or on two versions created in the same second. Versions
written before `seq` existed count as 0 and fall back to their creation time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.domain.rotation import CURRENT, FAILED, PENDING, SUPERSEDED, Skip, status_of
from shared.domain.secret_values import SecretVersionInfo

SEQ_TAG = "seq"
REUSED_MARKER = "used previously"  # Graph's 400 when the password is one the user already had
COMPLEXITY_MARKER = "complexity"  # Graph's 400 for a password its policy refuses (also a banned one)


def seq_of(info: SecretVersionInfo) -> int:
    try:
        return max(0, int(str(info.tags.get(SEQ_TAG, "0"))))
    except ValueError:
        return 0


def _key(info: SecretVersionInfo) -> tuple[int, float, str]:
    created = info.created_on.timestamp() if info.created_on else 0.0
    return seq_of(info), created, info.version


def ordered(versions: Iterable[SecretVersionInfo]) -> list[SecretVersionInfo]:
    """Newest first, by the product's marker; disabled versions left out."""
    return sorted((v for v in versions if v.enabled), key=_key, reverse=True)


def newest_with(versions: Iterable[SecretVersionInfo], status: str) -> SecretVersionInfo | None:
    """What a reader wants: the newest version tagged `status` (for passwords: `current`)."""
    return next((v for v in ordered(versions) if status_of(v) == status), None)


@dataclass(frozen=True)
class VersionPlan:
    """What to do with a user's versions before anything else: which is current, which pending one to resolve, and
    tags to tidy (older versions still tagged current, pending versions older than the one that counts)."""

    current: SecretVersionInfo | None
    pending: SecretVersionInfo | None
    retag: tuple[tuple[SecretVersionInfo, str], ...]
    next_seq: int


def plan_versions(versions: Iterable[SecretVersionInfo]) -> VersionPlan:
    """A pending version newer than the current one may be what Entra holds: it is resolved (re-sent) before any new
    password is made. A pending version older than the current one never became Entra's: a newer version exists
    only once it was answered or refused for good, so it is tagged failed."""
    listed = list(versions)
    newest = ordered(listed)
    current = next((v for v in newest if status_of(v) == CURRENT), None)
    pendings = [v for v in newest if status_of(v) == PENDING]
    pending = pendings[0] if pendings and (current is None or _key(pendings[0]) > _key(current)) else None
    retag = [(v, SUPERSEDED) for v in newest if status_of(v) == CURRENT and v is not current]
    retag += [(v, FAILED) for v in pendings if v is not pending]
    return VersionPlan(current, pending, tuple(retag), max((seq_of(v) for v in listed), default=0) + 1)


class Verdict(StrEnum):
    APPLIED = "applied"  # Entra holds the password: it becomes current
    REFUSED = "refused"  # Entra definitely does not hold it: the version is failed, the current one stays
    UNKNOWN = "unknown"  # Entra may hold it: it stays pending and is re-sent, the same password, next run


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    reason: str = ""


def judge(status: int | None, message: str = "", *, graph_code: str = "", possibly_applied: bool = False) -> Answer:
    """What Entra's answer to a password PATCH means. `status` None: no definite answer (throttled or failing after
    retries, the connection lost). `possibly_applied`: an earlier sending of this same password may have been carried
    out (a pending version from an earlier run, or an earlier attempt whose answer was lost).

    - 2xx, or 400 "used previously" (the user already has it): applied.
    - 404: the user is gone; nothing to keep.
    - 400 for the password's complexity: that password can never have been accepted, so nothing was applied.
    - 403 and other refusals: a definite "no" to this request, but when an earlier sending may have landed, Entra may
      hold the password all the same: unknown, never a roll-back.
    """
    if status is None:
        return Answer(Verdict.UNKNOWN, "no_definite_answer")
    if status < 400 or (status == 400 and REUSED_MARKER in message):
        return Answer(Verdict.APPLIED)
    if status == 404:
        return Answer(Verdict.REFUSED, Skip.NOT_FOUND)
    if status == 400 and COMPLEXITY_MARKER in message.lower():
        return Answer(Verdict.REFUSED, "password_rejected")
    reason = "reset_denied" if status == 403 else (graph_code or f"graph_{status}")
    if possibly_applied:
        return Answer(Verdict.UNKNOWN, reason)
    return Answer(Verdict.REFUSED, reason)
