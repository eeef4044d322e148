"""The development host's routing and schedules, pure: ASP.NET route templates as the Functions host matches them
(`{param}`, `{param:guid}` and the other inline constraints, `{param?}`, `{*rest}`, literal-first precedence,
case-insensitive) and NCRONTAB / TimeSpan timer schedules (next occurrence)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

GUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$|^\{[-0-9a-fA-F]{36}\}$"
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_INT = re.compile(r"^-?\d+$")


def _between(text: str, lo: float, hi: float) -> bool:
    return bool(_INT.match(text)) and lo <= int(text) <= hi


def _date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def constraint(spec: str) -> Callable[[str], bool]:
    """One inline route constraint (learn.microsoft.com/aspnet/core/fundamentals/routing#route-constraints)."""
    name, _, arg = spec.partition("(")
    arg = arg.removesuffix(")")
    nums = [int(a) for a in arg.split(",")] if arg and name != "regex" else []
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: _between(v, -(2**31), 2**31 - 1),
        "long": lambda v: _between(v, -(2**63), 2**63 - 1),
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": lambda v: bool(GUID.match(v)),
        "alpha": lambda v: v.isascii() and v.isalpha(),
        "decimal": lambda v: bool(_NUMBER.match(v)),
        "double": lambda v: bool(_NUMBER.match(v)),
        "float": lambda v: bool(_NUMBER.match(v)),
        "datetime": _date,
    }
    if name in simple:
        return simple[name]
    with_args: dict[str, Callable[[str], bool]] = {
        "min": lambda v: _between(v, nums[0], 2**63),
        "max": lambda v: _between(v, -(2**63), nums[0]),
        "range": lambda v: _between(v, nums[0], nums[-1]),
        "length": lambda v: (len(v) == nums[0]) if len(nums) == 1 else nums[0] <= len(v) <= nums[-1],
        "minlength": lambda v: len(v) >= nums[0],
        "maxlength": lambda v: len(v) <= nums[0],
        "regex": lambda v: re.search(arg, v, re.IGNORECASE) is not None,
    }
    if name in with_args:
        return with_args[name]
    raise ValueError(f"unknown route constraint {spec!r}")


@dataclass(frozen=True)
class Segment:
    literal: str | None = None  # a literal segment (compared case-insensitively)
    name: str = ""
    checks: tuple[Callable[[str], bool], ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


_PARAM = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)((?::[^:=?]+(?:\([^)]*\))?)*)(\?)?(?:=(.*))?\}$")


def parse_segment(text: str) -> Segment:
    if "{" not in text:
        return Segment(literal=text.lower())
    match = _PARAM.match(text)
    if not match:
        raise ValueError(f"unsupported route segment {text!r} (one parameter per segment)")
    star, name, specs, optional, default = match.groups()
    checks = tuple(constraint(s) for s in re.findall(r":([^:(]+(?:\([^)]*\))?)", specs or ""))
    return Segment(name=name, checks=checks, optional=bool(optional), default=default, catch_all=bool(star))


@dataclass(frozen=True)
class Route:
    template: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, prefix: str, template: str) -> Route:
        parts = [p for p in f"{prefix.strip('/')}/{template.strip('/')}".split("/") if p]
        return cls(template, tuple(parse_segment(p) for p in parts))

    def precedence(self) -> tuple[int, ...]:
        """Literal segments first, then constrained, plain, optional and catch-all parameters (ASP.NET order)."""

        def rank(s: Segment) -> int:
            if s.literal is not None:
                return 0
            return 4 if s.catch_all else 3 if s.optional else 1 if s.checks else 2

        return tuple(rank(s) for s in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        values: dict[str, str] = {}
        for index, seg in enumerate(self.segments):
            if seg.catch_all:  # the rest of the path, also empty
                rest = "/".join(parts[index:])
                if rest and not all(check(rest) for check in seg.checks):
                    return None
                if rest or seg.default is not None:
                    values[seg.name] = rest or str(seg.default)
                return values
            if index >= len(parts):
                if seg.literal is None and (seg.optional or seg.default is not None):
                    if seg.default is not None:
                        values[seg.name] = seg.default
                    continue
                return None
            value = parts[index]
            if seg.literal is not None:
                if value.lower() != seg.literal:
                    return None
                continue
            if not all(check(value) for check in seg.checks):
                return None
            values[seg.name] = value
        return values if len(parts) <= len(self.segments) else None


# --- timer schedules -------------------------------------------------------------------------------------------

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES = {4: {m: i + 1 for i, m in enumerate(_MONTHS)}, 5: {d: i for i, d in enumerate(_DAYS)}}
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _value(text: str, index: int) -> int | None:
    return int(text) if text.isdigit() else _NAMES.get(index, {}).get(text)


def _field(text: str, index: int) -> frozenset[int]:
    lo, hi = _BOUNDS[index]
    out: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if rng == "*":
            start, end = lo, hi
        else:
            a, _, b = rng.partition("-")
            first, last = _value(a, index), (_value(b, index) if b else None)
            if first is None or (b and last is None):
                raise ValueError(f"bad NCRONTAB field {text!r}")
            start = first
            end = last if last is not None else (hi if step_text else first)
        if not (lo <= start <= hi and lo <= end <= hi + (1 if index == 5 else 0)):
            raise ValueError(f"NCRONTAB field {text!r} is out of range {lo}-{hi}")
        out.update(v % 7 if index == 5 else v for v in range(start, end + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class Schedule:
    """A timer trigger's schedule: NCRONTAB `{second} {minute} {hour} {day} {month} {day-of-week}` (UTC; day and
    day-of-week must both match), or a TimeSpan `hh:mm:ss` interval (learn.microsoft.com/azure/azure-functions/
    functions-bindings-timer#ncrontab-expressions)."""

    fields: tuple[frozenset[int], ...] = ()
    interval: timedelta | None = None

    @classmethod
    def parse(cls, text: str, settings: Mapping[str, str] | None = None) -> Schedule:
        text = text.strip()
        if text.startswith("%") and text.endswith("%"):
            name = text.strip("%")
            if settings is None or name not in settings:
                raise ValueError(f"the schedule names app setting {name!r}, which is not set")
            text = settings[name]
        if re.fullmatch(r"\d+(\.\d+)?:\d\d:\d\d", text):
            days_hours, minutes, seconds = text.split(":")
            d, _, h = days_hours.rpartition(".")
            return cls(interval=timedelta(days=int(d or 0), hours=int(h), minutes=int(minutes), seconds=int(seconds)))
        parts = text.split()
        if len(parts) != 6:
            raise ValueError(f"NCRONTAB {text!r} must have six fields (with seconds)")
        return cls(fields=tuple(_field(p, i) for i, p in enumerate(parts)))

    def next_after(self, moment: datetime) -> datetime:
        if self.interval is not None:
            return moment + self.interval
        sec, minute, hour, day, month, dow = self.fields
        t = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        for _ in range(366 * 24 * 60 * 5):
            if t.month not in month:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in day or (t.isoweekday() % 7) not in dow:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in hour:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in minute:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in sec:
                t += timedelta(seconds=1)
            else:
                return t
        raise ValueError("the schedule never fires")
