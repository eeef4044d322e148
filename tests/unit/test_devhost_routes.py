"""The development host's pure parts: route templates as ASP.NET matches them, NCRONTAB and TimeSpan schedules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scripts.devhost_routes import Route, Schedule

T = datetime(2026, 1, 1, 10, 3, 7, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("connections/{id}", "/api/connections/abc", {"id": "abc"}),
        ("connections/{id:guid}", "/api/connections/abc", None),
        (
            "connections/{id:guid}",
            "/api/CONNECTIONS/6a1c0f5e-1111-4222-8333-444455556666",
            {"id": "6a1c0f5e-1111-4222-8333-444455556666"},
        ),
        ("n/{n:int:min(3)}", "/api/n/2", None),
        ("n/{n:int:min(3)}", "/api/n/3", {"n": "3"}),
        ("n/{n:range(1,5)}", "/api/n/6", None),
        ("s/{s:length(2)}", "/api/s/ab", {"s": "ab"}),
        ("s/{s:alpha}", "/api/s/a1", None),
        ("s/{s:regex(^a.c$)}", "/api/s/abc", {"s": "abc"}),
        ("opt/{p?}", "/api/opt", {}),
        ("opt/{p=x}", "/api/opt", {"p": "x"}),
        ("files/{*rest}", "/api/files/a/b%20c", {"rest": "a/b c"}),
        ("files/{*rest}", "/api/files", {}),
        ("a/{b}", "/api/a/b/c", None),
        ("a/{b}", "/a/b", None),
        ("a/{b}", "/api/a/x%2Fy", {"b": "x/y"}),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert Route.parse("api", template).match(path) == expected


def test_literal_segments_take_precedence_over_constrained_then_plain_parameters() -> None:
    routes = [Route.parse("api", t) for t in ("x/{*rest}", "x/{name}", "x/{n:int}", "x/special")]
    assert [r.template for r in sorted(routes, key=Route.precedence)] == [
        "x/special",
        "x/{n:int}",
        "x/{name}",
        "x/{*rest}",
    ]


def test_an_unknown_constraint_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown route constraint"):
        Route.parse("api", "x/{id:uuid}")


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 */5 * * * *", datetime(2026, 1, 1, 10, 5, tzinfo=UTC)),
        ("0 17 * * * *", datetime(2026, 1, 1, 10, 17, tzinfo=UTC)),
        ("0 0 9 * * Mon-Fri", datetime(2026, 1, 2, 9, tzinfo=UTC)),
        ("0 0 0 * * SAT,SUN", datetime(2026, 1, 3, tzinfo=UTC)),
        ("0 0 0 1 Mar *", datetime(2026, 3, 1, tzinfo=UTC)),
        ("*/10 * * * * *", datetime(2026, 1, 1, 10, 3, 10, tzinfo=UTC)),
        ("00:05:00", datetime(2026, 1, 1, 10, 8, 7, tzinfo=UTC)),
    ],
)
def test_schedules(schedule: str, expected: datetime) -> None:
    assert Schedule.parse(schedule).next_after(T) == expected


def test_a_schedule_from_an_app_setting_and_bad_schedules() -> None:
    assert Schedule.parse("%EVERY%", {"EVERY": "0 0 * * * *"}).next_after(T) == datetime(2026, 1, 1, 11, tzinfo=UTC)
    for bad in ("* * * * *", "0 61 * * * *", "%MISSING%"):
        with pytest.raises(ValueError):
            Schedule.parse(bad, {})
