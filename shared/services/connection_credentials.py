"""A connection's credential in Key Vault: each new one is a new version the row then names; a version whose row
update lost is disabled (abandoned); the old kind's version is disabled only after a secret <-> certificate switch
won. Readers read the exact version the row names, so the row and the credential used never disagree."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared.domain.connection import CredentialInfo
from shared.domain.connection_input import CredentialInput
from shared.domain.secret_names import client_cert_ref, client_secret_ref
from shared.errors import ConnectorError, SecretConflict, SecretNotFound

log = logging.getLogger(__name__)
ABANDONED = "abandoned"  # written by an update that lost the ETag race: no row names it
SUPERSEDED = "superseded"  # the previous kind's credential after a switch between secret and certificate


async def store(secrets: Any, connection_id: str, credential: CredentialInput) -> CredentialInfo:
    """Put the credential into Key Vault as a new version; return what may be shown about it and that version."""
    expires_on: datetime | None
    if credential.kind == "certificate":
        from shared.adapters.certificates import certificate_facts

        facts = certificate_facts(credential.material)
        ref = client_cert_ref(connection_id)
        hint, expires_on, content_type = facts.thumbprint[-3:], credential.expires_on or facts.expires_on, "pem"
    else:
        ref = client_secret_ref(connection_id)
        hint, expires_on, content_type = credential.material.reveal()[-3:], credential.expires_on, "text/plain"
    options: dict[str, Any] = {"tags": ref.with_tags(), "content_type": content_type, "expires_on": None}
    try:
        written = await secrets.set(ref.name, credential.material, **options)
    except SecretConflict:
        # The name was soft-deleted (older versions deleted the other kind's secret on a switch): recover it, then
        # write the new version on top. Its older versions come back too, but no row names them.
        log.info("connection %s: recovering the soft-deleted secret %s before writing it", connection_id, ref.name)
        await secrets.recover(ref.name)
        written = await secrets.set(ref.name, credential.material, **options)
    kind: Any = credential.kind
    return CredentialInfo(kind=kind, hint=hint, expires_on=expires_on, secret_name=ref.name, version=written.version)


def _ref(connection_id: str, info: CredentialInfo) -> Any:
    return client_cert_ref(connection_id) if info.kind == "certificate" else client_secret_ref(connection_id)


async def _disable(secrets: Any, connection_id: str, info: CredentialInfo, status: str) -> None:
    """Best effort: a version no row names is never read, so failing to disable it loses nothing."""
    try:
        await secrets.disable(info.secret_name, info.version, _ref(connection_id, info).with_tags(status=status))
    except SecretNotFound:
        return  # deleted meanwhile (the connection was removed): nothing to disable
    except ConnectorError as exc:
        log.warning("secret %s version %s left enabled (%s): no row names it", info.secret_name, info.version, exc.code)


async def abandon(secrets: Any, connection_id: str, info: CredentialInfo) -> None:
    """The version an update wrote but could not record (it lost the ETag race): disable it."""
    await _disable(secrets, connection_id, info, ABANDONED)


async def retire(secrets: Any, connection_id: str, old: CredentialInfo) -> None:
    """After a switch between secret and certificate won: the old kind's credential is no longer used. A versioned
    row's version is disabled (deleting the whole name would race with a switch back, and a soft-deleted name
    cannot be written again); an old row without a version has its secret soft-deleted, as before."""
    if old.version:
        await _disable(secrets, connection_id, old, SUPERSEDED)
        return
    try:
        await secrets.delete(old.secret_name)
    except ConnectorError as exc:
        log.warning("old credential secret %s not deleted (%s); no row names it", old.secret_name, exc.code)
