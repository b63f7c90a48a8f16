"""Happy Returns sandbox (https://partner.happyreturns.com)."""

from sync.sandbox.happy_returns.sandbox import HappyReturnsSandbox

__all__ = ["HappyReturnsSandbox"]
