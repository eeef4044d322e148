"""The console's add-connection page offers "On-premises AD" (a domain and its sync group): the same service creates
the AD connection; a refused form shows its problems next to the AD form's fields and stores nothing."""

from __future__ import annotations

import re
import uuid

from scripts import host
from tests.functions.console_client import ADMIN_ROLES, sign_in


async def test_an_admin_adds_an_on_premises_ad_connection(stack_env: dict[str, str]) -> None:
    admin = await sign_in(stack_env, "Ada Admin", ADMIN_ROLES)
    page = await admin.get("console_new", "/api/console/new")
    assert page.status == 200 and "On-premises AD" in page.text and 'id="ad-domain"' in page.text
    assert len(re.findall(r'id="display_name"', page.text)) == 1  # ids stay unique beside the Entra form

    domain = f"c{uuid.uuid4().hex[:8]}.example.com"
    bad = [("source", "ad"), ("display_name", "Corp"), ("domain", "not a domain"), ("sync_group_id", "sales")]
    refused = await admin.post("console_create", "/api/console/connections", fields=bad)
    assert refused.status == 400 and 'value="not a domain"' in refused.text  # typed back into the AD form
    assert "GUID" in refused.text and "DNS name" in refused.text

    group = str(uuid.uuid4())
    fields = [("source", "ad"), ("display_name", "Corp AD"), ("domain", domain.upper()), ("sync_group_id", group)]
    created = await admin.post("console_create", "/api/console/connections", fields=fields)
    assert created.status == 303, created.text[:500]
    match = re.fullmatch(r"/api/console/connections/([0-9a-f-]{36})\?done=created", created.location)
    assert match
    cid = match.group(1)
    status, view, _ = await host.http("connections_get", "GET", f"/api/connections/{cid}", route={"id": cid})
    assert status == 200 and (view["source"], view["domain"], view["state"]) == ("ad", domain, "pending_agent")
    assert view["sync_group_id"] == group
