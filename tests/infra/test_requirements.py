"""requirements.txt is what the deployed code needs: every package that function_app.py, functions/ and shared/
import (lazy imports inside functions included) is named there itself, not left to arrive as another package's
dependency; nothing else is, except the few run-time needs named below; msgraph stays out (dev only)."""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from functools import cache
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP_CODE = [
    REPO / "function_app.py",
    *sorted((REPO / "functions").rglob("*.py")),
    *sorted((REPO / "shared").rglob("*.py")),
]
LOCAL = {"function_app", "functions", "shared"}
# Needed at run time without an import statement of ours: say why, or it does not belong in the deployment.
RUN_TIME_ONLY = {
    "tzdata": "zoneinfo's time zone data where the host has no system database (schedules use IANA zones)",
}
DEV_ONLY = {"msgraph-sdk", "msgraph-core"}  # Microsoft's schema oracle and the benchmark baseline


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path) -> list[str]:
    """Distribution names of a requirements file (pins and markers dropped; `-r` lines skipped)."""
    names = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(canonical(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0]))
    return names


def imported_modules(files: list[Path], root: Path = REPO) -> dict[str, set[str]]:
    """Absolute imports of third-party modules (dotted, as written) -> the files that import them."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    found[name].add(str(path.relative_to(root)))
    return found


@cache
def _module_owners() -> dict[str, set[str]]:
    """Dotted module or package path -> the installed distributions whose files hold it (namespace packages such
    as `azure` are held by many; `azure.data.tables` by one)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])  # parsed anew on every access: once per distribution
        for file in dist.files or []:
            parts = list(file.parts)
            if not parts or parts[0].endswith((".dist-info", ".data")) or ".." in parts:
                continue
            if file.suffix not in (".py", ".so", ".pyd"):
                continue
            parts[-1] = parts[-1].split(".", 1)[0]
            if parts[-1] == "__init__":
                parts.pop()
            for depth in range(1, len(parts) + 1):
                owners[".".join(parts[:depth])].add(name)
    return owners


def distribution_of(module: str) -> set[str]:
    """The distributions that provide a module: the deepest package path any distribution holds alone."""
    owners = _module_owners()
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        held = owners.get(".".join(parts[:depth]), set())
        if len(held) == 1 or (held and depth == len(parts)):
            return held
    return set()


def undeclared(files: list[Path], declared: set[str], root: Path = REPO) -> list[str]:
    """One line per imported module whose distribution requirements.txt does not name."""
    problems = []
    for module, users in sorted(imported_modules(files, root).items()):
        owners = distribution_of(module)
        where = ", ".join(sorted(users))
        if not owners:
            problems.append(f"{module} (in {where}) is not installed at all")
        elif not owners & declared:
            problems.append(f"{module} (in {where}) comes from {', '.join(sorted(owners))}: add it to requirements.txt")
    return problems


def test_every_imported_package_is_declared_by_name() -> None:
    problems = undeclared(APP_CODE, set(requirements(REPO / "requirements.txt")))
    assert problems == [], "requirements.txt misses what the app imports:\n" + "\n".join(problems)


def test_nothing_undeclared_rides_along() -> None:
    declared = requirements(REPO / "requirements.txt")
    used = {dist for module in imported_modules(APP_CODE) for dist in distribution_of(module)}
    unused = [name for name in declared if name not in used and name not in RUN_TIME_ONLY]
    assert unused == [], (
        f"requirements.txt names packages the app never imports: {unused} (or say why in RUN_TIME_ONLY)"
    )


def test_each_requirement_is_pinned_once_and_msgraph_is_dev_only() -> None:
    lines = [line for line in (REPO / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    names = requirements(REPO / "requirements.txt")
    assert len(names) == len(set(names)), f"named twice: {sorted({n for n in names if names.count(n) > 1})}"
    assert all("==" in line for line in lines), "pin every runtime package exactly"
    assert not {n for n in names if n.startswith("msgraph")}, "the product reads Graph as JSON; msgraph is dev only"
    dev = requirements(REPO / "requirements-dev.txt")
    assert set(dev) >= DEV_ONLY and "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text()


def test_the_resolution_tells_namespace_packages_apart() -> None:
    assert distribution_of("azure.data.tables.aio") == {"azure-data-tables"}
    assert distribution_of("azure.core.exceptions") == {"azure-core"}
    assert distribution_of("azure.functions") == {"azure-functions"}
    assert distribution_of("httpx") == {"httpx"}
    assert distribution_of("no_such_package_anywhere") == set()


def test_a_missing_declaration_is_reported(tmp_path: Path) -> None:
    """An import whose package only arrives as another's dependency (msal through azure-identity) is named, and so
    is a lazy import inside a function."""
    module = tmp_path / "shared" / "adapters" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import msal\n\n\ndef f():\n    from azure.keyvault.secrets.aio import SecretClient\n    import jwt\n"
    )
    declared = {"azure-keyvault-secrets", "azure-identity"}
    assert undeclared([module], declared, tmp_path) == [
        "jwt (in shared/adapters/x.py) comes from pyjwt: add it to requirements.txt",
        "msal (in shared/adapters/x.py) comes from msal: add it to requirements.txt",
    ]
