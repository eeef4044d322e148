""".funcignore ships only the app: function_app.py, host.json, requirements.txt, functions/ and shared/ (and the
.python_packages/ a local build adds), even with test caches, local settings and tool folders lying around."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from scripts.deployment import REPO, shipped_files

TOP_LEVEL_APP = {"function_app.py", "host.json", "requirements.txt"}
APP_DATA = {  # files the app reads at run time (GET /api/openapi.yaml and the console's static assets serve them)
    "functions/openapi.yaml",
    "functions/console_static/console.css",
    "functions/console_static/console.js",
}
# What a developer's checkout accumulates; none of it may reach Azure.
LITTER = [
    ".pytest_cache/v/cache/lastfailed",
    "tests/.pytest_cache/README.md",
    ".hypothesis/examples/abc/def",
    ".mypy_cache/3.11/shared/config.data.json",
    ".ruff_cache/0.17.6/123",
    "shared/__pycache__/config.cpython-311.pyc",
    "functions/__pycache__/health.cpython-311.pyc",
    "shared/domain/old.pyc",
    ".coverage",
    "htmlcov/index.html",
    "local.settings.json",
    ".local/emulator-ca-bundle.pem",
    ".demo/emulator-ca-bundle.pem",
    ".bench/worker.json",
    ".azure/dev/.env",
    ".azurite/__azurite_db_table__.json",
    ".env",
    ".vscode/settings.json",
    "func.log",
    "NOTES.md",
    "node_modules/azurite/package.json",
    ".venv/bin/python",
]


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout.decode()
    return [name for name in out.split("\0") if name and (REPO / name).is_file()]


def _app(files: list[str]) -> set[str]:
    return {
        f
        for f in files
        if f in TOP_LEVEL_APP or f in APP_DATA or (f.startswith(("functions/", "shared/")) and f.endswith(".py"))
    }


def test_only_the_app_ships_from_a_checkout_full_of_caches(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    tracked = _tracked()
    for name in tracked:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    for name in [*LITTER, ".python_packages/lib/site-packages/httpx/__init__.py"]:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text("x")
    shipped = set(shipped_files(checkout))
    expected = _app(tracked) | {".python_packages/lib/site-packages/httpx/__init__.py"}
    assert shipped - expected == set(), "shipped but not part of the app: add it to .funcignore"
    assert expected - shipped == set(), ".funcignore leaves out part of the app"


def test_the_app_itself_is_complete() -> None:
    shipped = shipped_files()
    assert set(shipped) >= TOP_LEVEL_APP
    assert "functions/health.py" in shipped and "shared/config.py" in shipped
    assert {"functions/console_static/console.css", "functions/console_static/console.js"} <= set(shipped)


def test_a_new_top_level_file_would_be_noticed(tmp_path: Path) -> None:
    (tmp_path / ".funcignore").write_text((REPO / ".funcignore").read_text())
    for name in ("function_app.py", "CHANGELOG.txt", "tests/test_x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert shipped_files(tmp_path) == ["CHANGELOG.txt", "function_app.py"]
