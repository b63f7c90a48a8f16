"""Fixtures: each platform's REAL connector against its REAL sandbox, in-process, on a SimClock."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from sync.sandbox.base import SandboxTransport, SimClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


def client_for(*sandboxes) -> httpx.Client:
    return httpx.Client(transport=SandboxTransport(sandboxes))


class EngineMemory:
    """What the engine would have recorded: the last Return per platform id."""

    def __init__(self) -> None:
        self.returns = {}

    def record(self, page) -> None:
        for ret in page.returns:
            self.returns[ret.platform_id] = ret

    def get(self, platform_id):
        return self.returns.get(platform_id)
