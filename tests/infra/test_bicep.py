"""Every Bicep file parses, the azd layout is complete, and parameters, modules and abbreviations line up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lark.exceptions import UnexpectedInput

from tests.infra.bicep import INFRA, REPO, bicep_files, copy_infra, edit, parse

MODULE_FILES = {"identity", "monitoring", "storage", "keyvault", "rbac", "api", "alerts"}


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    doc = parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name} declares nothing"


def test_a_syntax_error_fails_with_its_position(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    broken = infra / "app" / "storage.bicep"
    edit(broken, "allowSharedKeyAccess: false", "allowSharedKeyAccess: = false")
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "allowSharedKeyAccess" in text)
    with pytest.raises(UnexpectedInput) as caught:
        parse(broken)
    assert caught.value.line == line


def test_the_layout_follows_the_azd_flex_templates() -> None:
    assert {p.stem for p in (INFRA / "app").glob("*.bicep")} == MODULE_FILES
    main = parse(INFRA / "main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    modules = {m["detail"]["path"] for m in main["modules"].values()}
    assert modules == {f"./app/{name}.bicep" for name in MODULE_FILES}, "every module is local and used"
    assert all(m["type"] == "local" for m in main["modules"].values()), "no registry modules: checkov could not see in"
    assert (REPO / "requirements-infra.txt").is_file()


def test_azure_yaml_declares_one_python_function_service() -> None:
    text = (REPO / "azure.yaml").read_text()
    services = text.split("services:", 1)[1]
    assert len(re.findall(r"^  \S+:\s*$", services, re.MULTILINE)) == 1, "exactly one service"
    assert re.search(r"^    host: function\s*$", services, re.MULTILINE)
    assert re.search(r"^    language: python\s*$", services, re.MULTILINE)
    assert re.search(r"^    project: \.\s*$", services, re.MULTILINE)


def test_parameters_file_matches_main_bicep() -> None:
    declared = parse(INFRA / "main.bicep")["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared), f"unknown parameters: {set(given) - set(declared)}"
    required = {name for name, p in declared.items() if "default" not in p}
    assert required <= set(given), f"azd cannot fill: {required - set(given)}"
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"


def test_module_parameters_exist_in_the_modules() -> None:
    main = parse(INFRA / "main.bicep")
    for name, module in main["modules"].items():
        target = parse(INFRA / module["detail"]["path"])
        declared = target.get("parameters", {})
        passed = set(module["config"]["params"])
        assert passed <= set(declared), f"module {name} gets unknown params {passed - set(declared)}"
        required = {p for p, spec in declared.items() if "default" not in spec}
        assert required <= passed, f"module {name} misses required params {required - passed}"


def test_every_abbreviation_used_is_defined() -> None:
    abbreviations = json.loads((INFRA / "abbreviations.json").read_text())
    used = set(re.findall(r"abbrs\.(\w+)", (INFRA / "main.bicep").read_text()))
    assert used <= set(abbreviations), f"undefined: {used - set(abbreviations)}"
