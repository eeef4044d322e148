"""What `bicep build` would say about infra/'s resource bodies, from the type data the Bicep compiler itself loads
(Azure.Bicep.Types.Az, copied unchanged into tests/infra/bicep-types/): a type or API version that does not exist
(BCP081), a property the type does not have (BCP037), a read-only property that is set (BCP073), a required one
missing (BCP035), a literal of the wrong kind or outside the allowed values (BCP036; BCP088 when only the case
differs). Expressions (references, function calls, interpolations) are not evaluated, except that both branches
of a conditional are checked and a parameter with @allowed values is checked value by value, as Bicep does."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep.models import BicepElement

from tests.infra.bicep import INFRA, bicep_files, parse

TYPES = Path(__file__).resolve().parent / "bicep-types" / "generated"
REQUIRED, READ_ONLY = 1, 2
KEYWORDS = frozenset({"parent", "scope", "dependsOn"})  # Bicep's own, on every resource
EXISTING_KEYS = frozenset({"name", "parent", "scope"})


@dataclass(frozen=True)
class Finding:
    file: str
    resource: str
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} {self.resource}{'.' if self.path else ''}{self.path}: {self.code} {self.message}"


class TypeIndex:
    """Every `ResourceType` node of the type data, by lower-cased `type@apiVersion`; files load on first use."""

    def __init__(self, root: Path = TYPES) -> None:
        self.where: dict[str, tuple[Path, int]] = {}
        for path in sorted(root.rglob("types.json")):
            for number, node in enumerate(_load(path)):
                if node["$type"] == "ResourceType":
                    self.where[node["name"].lower()] = (path, number)
        assert self.where, f"no type data under {root}"

    def body(self, type_version: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        found = self.where.get(type_version.lower())
        if found is None:
            return None
        nodes = _load(found[0])
        return nodes, _deref(nodes, nodes[found[1]]["body"])

    def versions(self, resource_type: str) -> list[str]:
        prefix = resource_type.lower() + "@"
        return sorted(key.split("@", 1)[1] for key in self.where if key.startswith(prefix))


@functools.cache
def _load(path: Path) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = json.loads(path.read_text())
    return nodes


def _deref(nodes: list[dict[str, Any]], ref: dict[str, str]) -> dict[str, Any]:
    pointer = ref["$ref"]
    assert pointer.startswith("#/"), f"only local references are expected, got {pointer}"
    return nodes[int(pointer[2:])]


def _expression(value: Any) -> bool:
    if isinstance(value, str):
        return isinstance(value, BicepElement) or "${" in value
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), *_ = value.items()
        return key in ("function", "operator") and isinstance(inner, dict) and "type" in inner
    return False


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), "?")


class _Checker:
    def __init__(self, nodes: list[dict[str, Any]], doc: dict[str, Any], report: Any) -> None:
        self.nodes = nodes
        self.parameters = doc.get("parameters", {})
        self.report = report

    # -- values -----------------------------------------------------------------------------------------------
    def value(self, value: Any, type_ref: dict[str, str], path: str) -> None:
        node = _deref(self.nodes, type_ref)
        if _expression(value):
            self._expression(value, type_ref, path)
            return
        kind = node["$type"]
        if kind == "AnyType" or value is None:
            return
        if kind == "UnionType":
            self._union(value, node, path)
        elif kind in ("ObjectType", "DiscriminatedObjectType"):
            self._object_value(value, node, path)
        elif kind == "ArrayType":
            if not isinstance(value, list):
                self.report(path, "BCP036", f"expects an array, got {_kind(value)} {value!r}")
                return
            if "maxLength" in node and len(value) > node["maxLength"]:
                self.report(path, "BCP036", f"at most {node['maxLength']} items, got {len(value)}")
            for number, item in enumerate(value):
                self.value(item, node["itemType"], f"{path}[{number}]")
        else:
            problem = self._primitive(value, node)
            if problem:
                self.report(path, *problem)

    def _expression(self, value: Any, type_ref: dict[str, str], path: str) -> None:
        if isinstance(value, BicepElement):
            decorators = {d["type"]: d.get("argument") for d in self.parameters.get(value, {}).get("decorators", [])}
            for allowed in decorators.get("allowed") or []:
                self.value(allowed, type_ref, f"{path} (@allowed value of parameter {value})")
        elif isinstance(value, dict) and value.get("operator", {}).get("type") == "conditional":
            operands = value["operator"]["operands"]
            self.value(operands["true_value"], type_ref, path)
            self.value(operands["false_value"], type_ref, path)

    def _primitive(self, value: Any, node: dict[str, Any]) -> tuple[str, str] | None:
        kind = node["$type"]
        if kind == "StringLiteralType":
            if value == node["value"]:
                return None
            if isinstance(value, str) and value.lower() == node["value"].lower():
                return "BCP088", f"{value!r} differs from the allowed {node['value']!r} only in case"
            return "BCP036", f"expects {node['value']!r}, got {value!r}"
        expected = {"StringType": str, "IntegerType": int, "BooleanType": bool}.get(kind)
        if expected is None:
            return "BCP036", f"cannot check a value against a {kind}"
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            return "BCP036", f"expects {kind.removesuffix('Type').lower()}, got {_kind(value)} {value!r}"
        low, high = node.get("minLength", node.get("minValue")), node.get("maxLength", node.get("maxValue"))
        size = len(value) if isinstance(value, str) else value
        if isinstance(size, int) and not isinstance(size, bool):
            if low is not None and size < low:
                return "BCP036", f"{value!r} is below the minimum {low}"
            if high is not None and size > high:
                return "BCP036", f"{value!r} is above the maximum {high}"
        return None

    def _union(self, value: Any, node: dict[str, Any], path: str) -> None:
        options = [_deref(self.nodes, element) for element in node["elements"]]
        best: list[tuple[str, str, str]] | None = None
        for option in node["elements"]:
            found: list[tuple[str, str, str]] = []
            _Checker(self.nodes, {"parameters": self.parameters}, lambda *f, bag=found: bag.append(f)).value(
                value, option, path
            )
            if not found:
                return
            if best is None or len(found) < len(best):
                best = found
        literals = [o["value"] for o in options if o["$type"] == "StringLiteralType"]
        if isinstance(value, str) and literals and len(literals) == len(options):
            close = [v for v in literals if v.lower() == value.lower()]
            if close:
                self.report(path, "BCP088", f"{value!r} differs from the allowed {close[0]!r} only in case")
            else:
                self.report(path, "BCP036", f"{value!r} is not one of {', '.join(map(repr, literals))}")
            return
        for finding in best or []:
            self.report(*finding)

    # -- objects ----------------------------------------------------------------------------------------------
    def _object_value(self, value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict):
            self.report(path, "BCP036", f"expects an object, got {_kind(value)} {value!r}")
            return
        self.body(value, node, path)

    def body(self, value: dict[str, Any], node: dict[str, Any], path: str, skip: frozenset[str] = frozenset()) -> None:
        properties: dict[str, Any] = dict(node.get("properties", {}))
        additional = node.get("additionalProperties")
        if node["$type"] == "DiscriminatedObjectType":
            properties = dict(node.get("baseProperties", {}))
            choice = value.get(node["discriminator"])
            if _expression(choice) or choice is None:
                return  # which variant applies is known only at deployment
            elements = node["elements"]
            match = next((key for key in elements if key.lower() == str(choice).lower()), None)
            if match is None:
                here = f"{path}.{node['discriminator']}" if path else node["discriminator"]
                self.report(here, "BCP036", f"{choice!r} is not one of {', '.join(map(repr, sorted(elements)))}")
                return
            variant = _deref(self.nodes, elements[match])
            properties.update(variant.get("properties", {}))
            additional = variant.get("additionalProperties")
        by_name = {name.lower(): (name, spec) for name, spec in properties.items()}
        for raw_key, item in value.items():
            key = raw_key[1:-1] if raw_key.startswith("'") and raw_key.endswith("'") else raw_key
            here = f"{path}.{key}" if path else key
            if key in skip:
                continue
            entry = by_name.get(key.lower())
            if entry is None:
                if additional is not None:
                    self.value(item, additional, here)
                elif "${" not in key:
                    self.report(here, "BCP037", f"{node.get('name', 'the object')} has no property {key!r}")
                continue
            name, spec = entry
            if spec["flags"] & READ_ONLY:
                self.report(here, "BCP073", f"{name} is read-only")
                continue
            self.value(item, spec["type"], here)
        given = {raw.strip("'").lower() for raw in value}
        for name, spec in properties.items():
            if spec["flags"] & REQUIRED and not spec["flags"] & READ_ONLY and name.lower() not in given:
                self.report(f"{path}.{name}" if path else name, "BCP035", f"the required property {name} is missing")


def _unwrap(config: dict[str, Any]) -> dict[str, Any]:
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def check(root: Path = INFRA, index: TypeIndex | None = None) -> tuple[list[Finding], list[str]]:
    """(findings, the `file resource type@version` of every resource checked) for every Bicep file under root."""
    index = index or TypeIndex()
    findings: list[Finding] = []
    checked: list[str] = []
    for path in bicep_files(root):
        doc = parse(path)
        file = str(path.relative_to(root))
        for symbol, resource in doc.get("resources", {}).items():
            type_version = f"{resource['type']}@{resource['api_version']}"

            def report(where: str, code: str, message: str, symbol: str = symbol, file: str = file) -> None:
                findings.append(Finding(file, symbol, where, code, message))

            found = index.body(type_version)
            if found is None:
                known = index.versions(resource["type"])
                report("", "BCP081", f"{type_version} is not in the type data (known: {', '.join(known) or 'none'})")
                continue
            nodes, body = found
            config = _unwrap(resource["config"])
            checked.append(f"{file} {symbol} {type_version}")
            if resource["existing"]:
                for key in set(config) - EXISTING_KEYS:
                    report(key, "BCP037", "an existing resource takes only name, parent and scope")
                continue
            _Checker(nodes, doc, report).body(config, body, "", skip=KEYWORDS)
    return findings, checked
