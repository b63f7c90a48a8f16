"""ReturnGO sandbox (https://api.returngo.ai)."""

from sync.sandbox.returngo.sandbox import SHIPMENT_TRANSITIONS, ReturnGOSandbox

__all__ = ["SHIPMENT_TRANSITIONS", "ReturnGOSandbox"]
