"""The app indexes exactly the functions we ship, with their triggers and auth levels; importing it does no work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.functions.invoke import registered_functions

REPO = Path(__file__).resolve().parents[2]

# name -> (trigger type, auth level for HTTP triggers or the schedule/queue for the others)
EXPECTED = {
    "health": ("httpTrigger", "ANONYMOUS"),
    "connections_create": ("httpTrigger", "FUNCTION"),
    "connections_list": ("httpTrigger", "FUNCTION"),
    "connections_get": ("httpTrigger", "FUNCTION"),
    "connections_update": ("httpTrigger", "FUNCTION"),
    "connections_delete": ("httpTrigger", "FUNCTION"),
    "connections_verify": ("httpTrigger", "FUNCTION"),
    "purge_worker": ("queueTrigger", "purge-jobs"),
    "consent_start": ("httpTrigger", "FUNCTION"),
    "consent_callback": ("httpTrigger", "ANONYMOUS"),
    "consent_invite": ("httpTrigger", "ANONYMOUS"),
    "invitations_create": ("httpTrigger", "FUNCTION"),
    "invitations_revoke": ("httpTrigger", "FUNCTION"),
    "rotate_connection": ("httpTrigger", "FUNCTION"),
    "rotate_user": ("httpTrigger", "FUNCTION"),
    "rotation_timer": ("timerTrigger", "0 17 * * * *"),
    "rotation_worker": ("queueTrigger", "rotation-jobs"),
    "sync_start": ("httpTrigger", "FUNCTION"),
    "sync_approve": ("httpTrigger", "FUNCTION"),
    "sync_status": ("httpTrigger", "FUNCTION"),
    "sync_runs": ("httpTrigger", "FUNCTION"),
    "directory_users": ("httpTrigger", "FUNCTION"),
    "directory_groups": ("httpTrigger", "FUNCTION"),
    "group_members": ("httpTrigger", "FUNCTION"),
    "sync_scheduler": ("timerTrigger", "0 */5 * * * *"),
    "sync_worker": ("queueTrigger", "sync-jobs"),
    "sync_fanout": ("queueTrigger", "sync-fanout"),
    "connection_audit": ("httpTrigger", "FUNCTION"),
    "audit_all": ("httpTrigger", "FUNCTION"),
    "rotation_status": ("httpTrigger", "FUNCTION"),
    "openapi": ("httpTrigger", "FUNCTION"),
    "signin_start": ("httpTrigger", "ANONYMOUS"),
    "signin_callback": ("httpTrigger", "ANONYMOUS"),
    "signin_exchange": ("httpTrigger", "FUNCTION"),
    "console_signin": ("httpTrigger", "ANONYMOUS"),
    "console_callback": ("httpTrigger", "ANONYMOUS"),
    "console_signout": ("httpTrigger", "ANONYMOUS"),
    "console_account": ("httpTrigger", "ANONYMOUS"),
    "console_favicon": ("httpTrigger", "ANONYMOUS"),
    "console_home": ("httpTrigger", "ANONYMOUS"),
    "console_new": ("httpTrigger", "ANONYMOUS"),
    "console_create": ("httpTrigger", "ANONYMOUS"),
    "console_connection": ("httpTrigger", "ANONYMOUS"),
    "console_settings": ("httpTrigger", "ANONYMOUS"),
    "console_settings_save": ("httpTrigger", "ANONYMOUS"),
    "console_runs": ("httpTrigger", "ANONYMOUS"),
    "console_rotation": ("httpTrigger", "ANONYMOUS"),
    "console_users": ("httpTrigger", "ANONYMOUS"),
    "console_groups": ("httpTrigger", "ANONYMOUS"),
    "console_connection_audit": ("httpTrigger", "ANONYMOUS"),
    "console_audit": ("httpTrigger", "ANONYMOUS"),
    "console_progress": ("httpTrigger", "ANONYMOUS"),
    "console_consent": ("httpTrigger", "ANONYMOUS"),
    "console_invite": ("httpTrigger", "ANONYMOUS"),
    "console_verify": ("httpTrigger", "ANONYMOUS"),
    "console_sync": ("httpTrigger", "ANONYMOUS"),
    "console_dry_run": ("httpTrigger", "ANONYMOUS"),
    "console_approve": ("httpTrigger", "ANONYMOUS"),
    "console_delete": ("httpTrigger", "ANONYMOUS"),
    "console_static": ("httpTrigger", "ANONYMOUS"),
    "console_agent_code": ("httpTrigger", "ANONYMOUS"),
    "console_agent_remove": ("httpTrigger", "ANONYMOUS"),
    "console_ad_sync": ("httpTrigger", "ANONYMOUS"),
    "console_ad_rotate": ("httpTrigger", "ANONYMOUS"),
    "agent_codes_create": ("httpTrigger", "FUNCTION"),
    "agents_list": ("httpTrigger", "FUNCTION"),
    "agents_remove": ("httpTrigger", "FUNCTION"),
    "ad_sync_start": ("httpTrigger", "FUNCTION"),
    "ad_rotate_start": ("httpTrigger", "FUNCTION"),
    "agent_register": ("httpTrigger", "ANONYMOUS"),  # the one-time code authenticates it
    "agent_poll": ("httpTrigger", "ANONYMOUS"),  # these three: the agent's Ed25519 signature (docs/ad-agent.md)
    "agent_heartbeat": ("httpTrigger", "ANONYMOUS"),
    "agent_result": ("httpTrigger", "ANONYMOUS"),
    "agent_result_part": ("httpTrigger", "ANONYMOUS"),  # parts of a large answer, signed like the result
    "notifications": ("httpTrigger", "ANONYMOUS"),
    "notifications_lifecycle": ("httpTrigger", "ANONYMOUS"),
    "subscription_renewal": ("timerTrigger", "0 40 * * * *"),
}


def _describe() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for fn in registered_functions():
        trigger = json.loads(fn.get_function_json())["bindings"][0]
        detail = trigger.get("authLevel") or trigger.get("schedule") or trigger.get("queueName") or ""
        found[fn.get_function_name()] = (trigger["type"], str(detail))
    return found


def test_the_app_indexes_exactly_the_expected_functions() -> None:
    assert _describe() == EXPECTED


def test_function_names_are_unique() -> None:
    names = [fn.get_function_name() for fn in registered_functions()]
    assert len(names) == len(set(names))


def test_import_needs_no_settings_and_loads_no_sdk() -> None:
    """Import in a clean process with an empty environment: it must succeed and pull in no Graph or Azure SDK."""
    probe = (
        "import sys, function_app;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('msgraph', 'azure.identity', 'kiota_abstractions', 'msal') or m.startswith(('azure.identity', 'azure.data', "
        "'azure.keyvault', 'azure.storage')));"
        "print(len(function_app.app.get_functions()), heavy)"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    count, heavy = result.stdout.strip().split(" ", 1)
    assert int(count) == len(EXPECTED)
    assert heavy == "[]"
