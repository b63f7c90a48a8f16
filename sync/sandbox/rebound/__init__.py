"""ReBOUND sandbox (Headless API, legacy Intelligent Returns API, pushes)."""

from sync.sandbox.rebound.sandbox import ReboundSandbox

__all__ = ["ReboundSandbox"]
