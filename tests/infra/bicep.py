"""Reads infra/ the way the checks need it: Bicep parsed by pycep-parser into JSON, never grepped."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()


def parse(path: Path) -> dict[str, Any]:
    """The pycep JSON of one Bicep file; raises lark's UnexpectedInput (with line and column) on a syntax error."""
    result: dict[str, Any] = _parser().parse(text=path.read_text())
    return result


def bicep_files(root: Path = INFRA) -> list[Path]:
    return sorted(root.rglob("*.bicep"))


def copy_infra(destination: Path) -> Path:
    """A private copy of infra/ (Bicep, parameters, policies) to break on purpose."""
    target = destination / "infra"
    shutil.copytree(INFRA, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace exactly one occurrence, so a mutation can never silently miss."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path.name}"
    path.write_text(text.replace(old, new))


def resources(doc: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Declared (not `existing`) resources of one type, by symbolic name, with loops and conditions unwrapped."""
    found = {}
    for name, resource in doc.get("resources", {}).items():
        if resource["type"] != resource_type or resource["existing"]:
            continue
        config = resource["config"]
        while "config" in config and ("loop_type" in config or "condition" in config):
            config = config["config"]
        found[name] = config
    return found


def the_resource(doc: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found = resources(doc, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def all_resources(root: Path = INFRA) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in bicep_files(root):
        for name, resource in parse(path).get("resources", {}).items():
            yield path, name, resource


def app_setting_names(root: Path = INFRA) -> set[str]:
    """Names in the function app's `appsettings` config resource (the whole collection Azure gets)."""
    configs = resources(parse(root / "app" / "api.bicep"), "Microsoft.Web/sites/config")
    settings = [c for c in configs.values() if c.get("name") == "appsettings"]
    assert len(settings) == 1, "api.bicep must declare exactly one appsettings config resource"
    properties = settings[0]["properties"]
    assert isinstance(properties, dict), "app settings must be an object literal so they can be checked"
    return set(properties)


def app_settings(root: Path = INFRA) -> dict[str, Any]:
    configs = resources(parse(root / "app" / "api.bicep"), "Microsoft.Web/sites/config")
    return next(c["properties"] for c in configs.values() if c.get("name") == "appsettings")


def string_list_variable(path: Path, name: str) -> list[str]:
    value = parse(path)["variables"][name]["value"]
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{name} must be a literal list"
    return value
