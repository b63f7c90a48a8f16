"""commercetools sandbox: OAuth + the HTTP API paths Returnline uses, validated by the spec."""

from sync.sandbox.commercetools.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    CommercetoolsSandbox,
)

__all__ = ["CommercetoolsSandbox", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET"]
