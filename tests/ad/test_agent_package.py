"""The agent is its own package: its imports are declared in agent/requirements.txt, it never imports the
function app's code, and the deployment leaves it out."""

from __future__ import annotations

from tests.infra.test_requirements import REPO, canonical, distribution_of, imported_modules, requirements

AGENT_CODE = sorted((REPO / "agent").rglob("*.py"))


def test_the_agent_declares_what_it_imports_and_nothing_else() -> None:
    declared = set(requirements(REPO / "agent" / "requirements.txt"))
    imports = {m: f for m, f in imported_modules(AGENT_CODE).items() if m.split(".")[0] != "agent"}
    used = {dist for module in imports for dist in distribution_of(module)}
    assert {canonical(d) for d in used} == declared, f"agent imports {sorted(imports)}"


def test_the_agent_never_imports_the_function_app() -> None:
    for path in AGENT_CODE:
        text = path.read_text()
        assert "from shared" not in text and "import shared" not in text and "from functions" not in text, path


def test_dev_requirements_include_the_agents_and_the_deployment_leaves_it_out() -> None:
    assert "-r agent/requirements.txt" in (REPO / "requirements-dev.txt").read_text()
    assert "agent" in (REPO / ".funcignore").read_text().splitlines()
