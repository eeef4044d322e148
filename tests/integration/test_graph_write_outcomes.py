"""GraphClient tells a definite refusal from one that follows a lost answer: after a 5xx or a connection broken
once the request was sent, a later refusal does not prove the write never happened (`uncertain`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulators.stack import LocalStack
from shared.adapters.graph import RetryPolicy
from shared.composition import Container
from shared.errors import GraphError, GraphUnavailable
from tests.support.rotation import RotationWorld, make_world, remove_world


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def world(stack: LocalStack, stack_env: dict[str, str]) -> AsyncIterator[tuple[RotationWorld, Container]]:
    async with Container.from_env() as container:
        made = await make_world(stack, container, kinds=("ok1",))
        yield made, container
        stack.entra.control.clear_faults()
        remove_world(made)


WEAK = {"passwordProfile": {"password": "weak", "forceChangePasswordNextSignIn": False}}


@pytest.mark.parametrize(("first", "uncertain"), [(None, False), ("429", False), ("503", True), ("drop", True)])
async def test_a_refusal_after_a_lost_answer_is_marked_uncertain(
    world: tuple[RotationWorld, Container], first: str | None, uncertain: bool
) -> None:
    made, container = world
    control = made.stack.entra.control
    if first is not None:
        control.set_fault(first, nth=1, count=1, endpoint="users.update", tenant=made.tid)
    graph = await container.graph_for(made.connection, retry=RetryPolicy(max_attempts=3, sleep=_no_sleep))
    with pytest.raises(GraphError) as caught:
        await graph.patch(f"users/{made.users['ok1']}", WEAK, label="users.passwordReset")
    assert caught.value.status == 400  # the retry met the password policy: a definite answer to that request...
    assert caught.value.uncertain is uncertain  # ...but after a 5xx or a drop, not proof nothing was applied


async def test_a_429_is_waited_out_as_told_past_the_attempt_limit_until_the_throttled_budget_ends(
    world: tuple[RotationWorld, Container],
) -> None:
    """Learn ("Microsoft Graph throttling guidance"): after a 429, wait Retry-After and retry, again and again;
    the attempt limit is for other failures. A throttled wait over the policy's budget ends in the error."""
    made, container = world
    control = made.stack.entra.control
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    control.set_fault("429", rate=1.0, count=5, retry_after=1, endpoint="users.get", tenant=made.tid)
    graph = await container.graph_for(made.connection, retry=RetryPolicy(max_attempts=2, sleep=sleep))
    user = await graph.get_json(f"users/{made.users['ok1']}", label="users.get")
    assert user["id"] == made.users["ok1"]
    assert graph.stats.throttled == 5 and 1.0 in waits  # five 429s, each waited as told, with 2 attempts allowed

    control.set_fault("429", rate=1.0, count=50, retry_after=1, endpoint="users.get", tenant=made.tid)
    graph = await container.graph_for(
        made.connection, retry=RetryPolicy(max_attempts=2, sleep=sleep, max_throttled_s=3.0)
    )
    with pytest.raises(GraphUnavailable, match="429"):
        await graph.get_json(f"users/{made.users['ok1']}", label="users.get")
    assert graph.stats.throttled == 4  # 3 s waited as told, then the fourth 429 is raised
