"""Exception groups from nurseries: unwrapped on purpose, in one place."""

from __future__ import annotations

import pytest
import trio

from agenttree.errors import only_error, unwrap_group


def test_a_group_of_one_is_its_exception_however_deeply_nested() -> None:
    leaf = OSError("address in use")
    group = ExceptionGroup("outer", [ExceptionGroup("inner", [leaf])])
    assert only_error(group) is leaf and unwrap_group(group) is leaf


def test_a_group_of_several_stays_a_group() -> None:
    group = ExceptionGroup("two", [ValueError("a"), ExceptionGroup("b", [KeyError("b")])])
    assert only_error(group) is None and unwrap_group(group) is group


async def test_a_nursery_failure_is_raised_bare() -> None:
    async def fail() -> None:
        raise ValueError("the one error")

    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail)
    with pytest.raises(ValueError, match="the one error"):
        raise unwrap_group(caught.value) from None
