"""checkov finds no failed check in infra/ (only reasoned inline suppressions) and does catch broken copies.

One scan of infra/ and one of a deliberately broken copy run side by side, once per module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, bicep_files, copy_infra, edit
from tests.infra.scan import CHECKOV, MISSING, Report, finish, start

CUSTOM_CHECKS = {f"CKV_CONN_{n}" for n in range(1, 10)}
SKIP = re.compile(r"checkov:skip=([A-Za-z0-9_]+)")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Report, Report]]:
    if not CHECKOV.is_file():
        pytest.fail(MISSING, pytrace=False)
    good = copy_infra(tmp_path_factory.mktemp("good"))
    broken = copy_infra(tmp_path_factory.mktemp("broken"))
    app = broken / "app"
    edit(app / "storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true")
    edit(app / "storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")
    edit(app / "monitoring.bicep", "DisableLocalAuth: true", "DisableLocalAuth: false")
    edit(
        app / "api.bicep",
        "    AZURE_CLIENT_ID:",
        "    AzureWebJobsStorage: 'AccountName=x;AccountKey=abc'\n    AZURE_CLIENT_ID:",
    )
    edit(app / "keyvault.bicep", "enablePurgeProtection: true", "enablePurgeProtection: = true")  # syntax error
    alerts = app / "alerts.bicep"
    edit(alerts, "    severity: 3\n    enabled: true", "    severity: 3\n    enabled: false")  # the deletionHeld rule
    edit(alerts, "'connector'\n    enabled: true", "'connector'\n    enabled: false")  # the action group
    processes = [start(good), start(broken)]
    try:
        results = finish(processes[0]), finish(processes[1])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    yield results


@pytest.fixture(scope="module")
def report(reports: tuple[Report, Report]) -> Report:
    return reports[0]


@pytest.fixture(scope="module")
def broken(reports: tuple[Report, Report]) -> Report:
    return reports[1]


def test_checkov_parses_every_bicep_file(report: Report) -> None:
    assert report.parsing_errors == []
    assert report.summary["resource_count"] > 0


def test_no_check_fails(report: Report) -> None:
    failures = [f"{r['check_id']} {r['resource']} ({r['file_path']}): {r['check_name']}" for r in report.failed]
    assert failures == []


def test_every_suppression_gives_a_reason(report: Report) -> None:
    for record in report.skipped:
        reason = (record["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 20 and reason != "No comment provided", f"{record['check_id']} needs a reason"


def test_every_inline_suppression_is_still_needed(report: Report) -> None:
    written = {
        (f"/{path.relative_to(INFRA)}", check) for path in bicep_files() for check in SKIP.findall(path.read_text())
    }
    used = {(r["file_path"], r["check_id"]) for r in report.skipped}
    assert written - used == set(), "suppressions for checks that no longer fire: remove them"
    assert used <= written


def test_the_connectors_own_policies_ran_and_passed(report: Report) -> None:
    assert {check for check, _ in report.ids("passed")} >= CUSTOM_CHECKS


def test_shared_key_access_turned_on_fails(broken: Report) -> None:
    assert ("CKV_CONN_1", "Microsoft.Storage/storageAccounts.storage") in broken.ids("failed")


def test_old_tls_fails(broken: Report) -> None:
    assert ("CKV_AZURE_44", "Microsoft.Storage/storageAccounts.storage") in broken.ids("failed")


def test_telemetry_local_auth_fails(broken: Report) -> None:
    assert ("CKV_CONN_4", "Microsoft.Insights/components.applicationInsights") in broken.ids("failed")


def test_a_storage_key_in_app_settings_fails(broken: Report) -> None:
    assert ("CKV_CONN_7", "Microsoft.Web/sites/config.appSettings") in broken.ids("failed")


def test_an_alert_rule_switched_off_fails(broken: Report) -> None:
    assert ("CKV_CONN_8", "Microsoft.Insights/scheduledQueryRules.deletionHeld") in broken.ids("failed")
    assert ("CKV_CONN_8", "Microsoft.Insights/scheduledQueryRules.quarantined") not in broken.ids("failed")


def test_an_action_group_switched_off_fails(broken: Report) -> None:
    assert ("CKV_CONN_9", "microsoft.insights/actionGroups.actionGroup") in broken.ids("failed")


def test_a_syntax_error_is_a_parsing_error(broken: Report) -> None:
    assert [Path(p).name for p in broken.parsing_errors] == ["keyvault.bicep"]
