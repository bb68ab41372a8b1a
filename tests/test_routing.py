"""Routing pieces that need no server: the wait estimate."""

from __future__ import annotations

import pytest

from gateway.routing import estimate_wait


@pytest.mark.parametrize(
    ("position", "handle_s", "agents", "expected"),
    [
        (1, 120.0, 1, 120.0),
        (3, 120.0, 1, 360.0),
        (3, 120.0, 2, 180.0),
        (1, 100.0, 3, 34.0),  # rounded up: never promise less than the truth
        (2, 60.0, 0, 120.0),  # nobody online yet: as if one agent
    ],
)
def test_wait_estimate(
    position: int, handle_s: float, agents: int, expected: float
) -> None:
    assert estimate_wait(position, handle_s, agents) == expected
