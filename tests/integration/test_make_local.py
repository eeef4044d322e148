"""`make local` (scripts/local.py): the same code, on free ports here (fixed ones only for the real command), starts
the stack, writes local.settings.json from the example, and stops everything on Ctrl-C. The written file is loaded
by the app's own settings loader and a function is called with it, as Core Tools would (Values as environment)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.azurite import Azurite
from emulators.common.processes import free_port, port_answers
from emulators.stack import LocalStack, StackPorts
from scripts import host
from scripts.local import EXAMPLE, main, settings_values, write_local_settings
from shared.client_pool import close_pool
from shared.config import load_settings

REPO = Path(__file__).resolve().parents[2]


def _free_ports() -> StackPorts:
    return StackPorts(storage=Azurite(free_port(), free_port(), free_port()), entra=free_port(), keyvault=free_port())


def _as_argument(ports: StackPorts) -> str:
    s = ports.storage
    return f"{s.blob_port},{s.queue_port},{s.table_port},{ports.entra},{ports.keyvault}"


def _all_ports(ports: StackPorts) -> list[int]:
    s = ports.storage
    return [s.blob_port, s.queue_port, s.table_port, ports.entra, ports.keyvault]


async def _create_and_list(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """As Core Tools runs the app: the file's Values become the environment; then functions are called."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    tenant = values["AZURE_TENANT_ID"]  # the seeded demo tenant (its connector identity signs in there)
    body = {"display_name": "make local", "tenant": tenant, "credential_mode": "admin_consent"}
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201 and created["tenant_id"] == tenant, created
    status, listed, _ = await host.http("connections_list", "GET", "/api/connections")
    assert status == 200 and created["id"] in {c["id"] for c in listed["value"]}, listed
    await close_pool()  # these clients belong to this stack, which goes away


def test_the_settings_file_has_exactly_the_examples_settings_with_the_stacks_values(
    stack: LocalStack, tmp_path: Path
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text('{"Values": {"MINE": "kept in the backup"}}')
    backup = write_local_settings(path, settings_values(stack))
    written = json.loads(path.read_text())
    assert written["IsEncrypted"] is False
    assert list(written["Values"]) == list(json.loads(EXAMPLE.read_text())["Values"])
    settings = load_settings(written["Values"])  # the app's own loader
    assert settings.storage.connection_string == stack.azurite.connection_string
    assert settings.key_vault_url == stack.keyvault.vault_url
    assert settings.login_url_override == stack.entra.login_url
    assert settings.ca_bundle == stack.ca_bundle and Path(settings.ca_bundle).is_file()
    assert backup is not None and "kept in the backup" in backup.read_text()


def test_make_local_serves_a_function_and_ctrl_c_stops_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = _free_ports()
    settings = tmp_path / "local.settings.json"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "scripts.local", "--settings", str(settings)),
            *("--ports", _as_argument(ports), "--state-dir", str(tmp_path / "state")),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # ends if the process dies; the timeout below is only a safety net
            lines.append(line)
            if line.startswith("Then try"):
                break
        assert any("func start" in line for line in lines), "".join(lines) + (
            process.stderr.read() if process.poll() else ""
        )
        assert all(port_answers(port) for port in _all_ports(ports))
        values = json.loads(settings.read_text())["Values"]
        assert values["KEY_VAULT_URL"] == f"https://127.0.0.1:{ports.keyvault}"
        assert values["ENTRA_LOGIN_URL_OVERRIDE"] == f"https://127.0.0.1:{ports.entra}"
        assert f":{ports.storage.table_port}/" in values["AzureWebJobsStorage"]
        assert values["TLS_CA_BUNDLE"] == str(tmp_path / "state" / "emulator-ca-bundle.pem")
        load_settings(values)
        asyncio.run(_create_and_list(values, monkeypatch))  # its own loop, as a worker process would have
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        code = process.wait(timeout=60)
    assert code == 0, process.stderr.read() if process.stderr else ""
    assert not [port for port in _all_ports(ports) if port_answers(port)], "something is still listening"


def test_a_port_in_use_is_named_and_nothing_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ports = _free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.entra))
        taken.listen()
        code = main(["--settings", str(tmp_path / "s.json"), "--ports", _as_argument(ports)])
    assert code == 2
    assert str(ports.entra) in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
    assert not any(port_answers(p) for p in _all_ports(ports) if p != ports.entra)


def test_the_fixed_ports_are_the_ones_the_example_and_development_storage_name() -> None:
    from scripts.local import FIXED
    from shared.composition import AZURITE_DEFAULT

    example = json.loads(EXAMPLE.read_text())["Values"]
    assert example["KEY_VAULT_URL"] == f"https://127.0.0.1:{FIXED.keyvault}"
    assert example["ENTRA_LOGIN_URL_OVERRIDE"] == example["GRAPH_URL_OVERRIDE"] == f"https://127.0.0.1:{FIXED.entra}"
    for port in (FIXED.storage.blob_port, FIXED.storage.queue_port, FIXED.storage.table_port):
        assert f"127.0.0.1:{port}/" in AZURITE_DEFAULT  # what UseDevelopmentStorage=true means
