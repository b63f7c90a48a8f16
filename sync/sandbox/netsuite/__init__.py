"""Simulated NetSuite (SuiteTalk REST) for tests, replay and the demo."""

from sync.sandbox.netsuite.sandbox import DEMO_TBA, NetSuiteSandbox

__all__ = ["DEMO_TBA", "NetSuiteSandbox"]
