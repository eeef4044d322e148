"""OData query options as Graph reads them: $top, $select, a $filter subset with its limits, advanced-query rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from emulators.entra.errors import GraphError, bad_request, unsupported

Predicate = Callable[[dict[str, Any]], bool]
MAX_TOP = 999
_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)|(?P<str>'(?:[^']|'')*')|(?P<word>[A-Za-z_][\w.]*)|(?P<num>-?\d+))"
)


def top_of(params: Mapping[str, str], default: int = 100) -> int:
    raw = params.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        top = -1
    if not 1 <= top <= MAX_TOP:
        raise unsupported(f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive.")
    return top


def select_of(params: Mapping[str, str], known: set[str], type_name: str) -> tuple[str, ...] | None:
    raw = params.get("$select")
    if not raw:
        return None
    fields = tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    for name in fields:
        if name not in known:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.", "BadRequest"
            )
    if "id" not in fields:
        fields = (*fields, "id")  # Graph always returns the id
    return fields


def is_eventual(headers: Mapping[str, str]) -> bool:
    """`ConsistencyLevel: eventual`: the read is served from the index, which may lag behind writes."""
    return headers.get("ConsistencyLevel", headers.get("consistencylevel", "")).lower() == "eventual"


def is_advanced(headers: Mapping[str, str], params: Mapping[str, str]) -> bool:
    """An advanced query: `ConsistencyLevel: eventual` header plus `$count=true`."""
    return is_eventual(headers) and params.get("$count", "").lower() == "true"


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            raise unsupported(f"Invalid filter clause: syntax error at position {pos} in '{expr}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if kind == "num":
        return int(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    raise unsupported(f"Invalid filter clause: '{text}' is not a literal.")


IN_LIMIT = 15  # values of one `in` outside advanced queries (Learn: known issues, "query parameter limitations")
FUNCTIONS = ("startswith", "endswith")  # endsWith, like ne and not, only in advanced queries
ENDSWITH_PROPS = frozenset({"mail", "userPrincipalName", "otherMails", "proxyAddresses"})


def needs_advanced(operator: str) -> GraphError:
    return unsupported(
        f"Operator '{operator}' is not supported because the required parameters might be missing. Try adding "
        "$count=true query parameter and ConsistencyLevel:eventual header. Refer to "
        "https://aka.ms/graph-docs/advanced-queries for more information"
    )


def parse_filter(expr: str, known: set[str], *, advanced: bool = False, resource: str = "User") -> Predicate:
    """`a eq 'x'`, `a in ('x','y')`, `startswith(a,'x')`, and (advanced queries only) `a ne 'x'`, `not ...`,
    `endswith(a,'x')`; joined by and/or (and binds tighter), grouped by parentheses.
    Learn: "Advanced query capabilities on Microsoft Entra ID objects", "Use the $filter query parameter"."""
    tokens = _tokens(expr)
    pos = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        return tokens[pos + offset] if pos + offset < len(tokens) else ("end", "")

    def take(kind: str | None = None, word: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise unsupported(f"Invalid filter clause: unexpected end of '{expr}'.")
        got_kind, text = tokens[pos]
        if (kind and got_kind != kind) or (word and text.lower() != word):
            raise unsupported(f"Invalid filter clause: unexpected '{text}' in '{expr}'.")
        pos += 1
        return text

    def prop() -> str:
        name = take("word")
        if name not in known:
            raise unsupported(
                f"Unsupported or invalid query filter clause specified for property '{name}' of resource '{resource}'."
            )
        return name

    def advanced_only(operator: str) -> None:
        if not advanced:
            raise needs_advanced(operator)

    def function(word: str) -> Predicate:
        take()
        take("open")
        name = prop()
        take("comma")
        text = str(_literal("str", take("str"))).lower()
        take("close")
        if word == "startswith":
            return lambda p: str(p.get(name) or "").lower().startswith(text)
        if name not in ENDSWITH_PROPS:
            raise unsupported(
                f"Unsupported or invalid query filter clause specified for property '{name}' of resource '{resource}'."
            )
        return lambda p: str(p.get(name) or "").lower().endswith(text)

    def comparison() -> Predicate:
        name = prop()
        op = take("word").lower()
        if op == "in":
            take("open")
            values = set()
            count = 0
            while True:
                kind, text = peek()
                take()
                values.add(_literal(kind, text))
                count += 1
                if peek()[0] == "close":
                    take()
                    break
                take("comma")
            if count > IN_LIMIT and not advanced:
                raise unsupported(
                    "Too many child clauses specified in search filter expression containing 'OR' operators: "
                    f"{count}. Max allowed: {IN_LIMIT}."
                )
            return lambda p: p.get(name) in values
        kind, text = peek()
        take()
        value = _literal(kind, text)
        if op == "eq":
            if isinstance(value, str):
                return lambda p: isinstance(p.get(name), str) and p[name].lower() == value.lower()
            return lambda p: p.get(name) == value
        if op == "ne":
            advanced_only("ne")
            if isinstance(value, str):
                return lambda p: not (isinstance(p.get(name), str) and p[name].lower() == value.lower())
            return lambda p: p.get(name) != value
        raise unsupported(f"Unsupported operator '{op}' in filter clause.")

    def primary() -> Predicate:
        kind, text = peek()
        word = text.lower() if kind == "word" else ""
        if kind == "open":
            take()
            inner = disjunction()
            take("close")
            return inner
        if word == "not":  # `not startsWith(...)`, `not (a eq 'x')`: no property is named "not"
            advanced_only("not")
            take()
            negated = primary()
            return lambda p: not negated(p)
        if word in FUNCTIONS and peek(1)[0] == "open":
            if word == "endswith":
                advanced_only("endsWith")
            return function(word)
        return comparison()

    def conjunction() -> Predicate:
        parts = [primary()]
        while peek()[1].lower() == "and" and peek()[0] == "word":
            take()
            parts.append(primary())
        return parts[0] if len(parts) == 1 else lambda p: all(f(p) for f in parts)

    def disjunction() -> Predicate:
        alternatives = [conjunction()]
        while peek()[1].lower() == "or" and peek()[0] == "word":
            take()
            alternatives.append(conjunction())
        return alternatives[0] if len(alternatives) == 1 else lambda p: any(f(p) for f in alternatives)

    result = disjunction()
    if pos != len(tokens):
        raise unsupported(f"Invalid filter clause: unexpected '{tokens[pos][1]}' in '{expr}'.")
    return result


def delta_filter_ids(expr: str, limit: int = 50) -> list[str]:
    """Delta accepts only `id eq '...'` clauses joined by `or`, at most `limit` of them."""
    ids: list[str] = []
    for part in re.split(r"\s+or\s+", expr.strip(), flags=re.IGNORECASE):
        match = re.fullmatch(r"\s*id\s+eq\s+'([^']+)'\s*", part)
        if match is None:
            raise unsupported("Delta query supports only $filter=id eq '{id}' clauses joined by 'or'.")
        ids.append(match.group(1))
    if len(ids) > limit:
        raise unsupported(f"The $filter of a delta query can list at most {limit} ids; it lists {len(ids)}.")
    return ids


def reject_delta_options(params: Mapping[str, str]) -> None:
    for option in ("$top", "$orderby", "$expand", "$search"):
        if option in params:
            raise GraphError(400, "Request_UnsupportedQuery", f"Query option '{option}' is not supported with delta.")
