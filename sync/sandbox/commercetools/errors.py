"""commercetools error bodies: {statusCode, message (= errors[0].message), errors[]}."""

from __future__ import annotations

from typing import Any

from sync.sandbox.base import SandboxResponse


class CtError(Exception):
    """Raised inside handlers; becomes the API's error response."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message, **self.extra}
        body: dict[str, Any] = {"statusCode": self.status, "message": self.message,
                                "errors": [error]}
        if self.code in ("invalid_token", "insufficient_scope", "invalid_client", "invalid_scope"):
            body["error"] = self.code  # AuthErrorResponse adds the OAuth fields
            if self.code in ("invalid_client", "invalid_scope"):
                body["error_description"] = self.message
        return body

    def response(self) -> SandboxResponse:
        return SandboxResponse.json(self.body(), self.status, self.headers)


def not_found(resource_id: str) -> CtError:
    return CtError(404, "ResourceNotFound", f"The Resource with ID '{resource_id}' was not found.")


def concurrent_modification(resource_id: str, expected: int, current: int) -> CtError:
    # Message format as captured from the live API (reference section 3).
    return CtError(409, "ConcurrentModification",
                   f"Object {resource_id} has a different version than expected. "
                   f"Expected: {expected} - Actual: {current}.", currentVersion=current)


def invalid_operation(message: str) -> CtError:
    return CtError(400, "InvalidOperation", message)


def invalid_input(message: str) -> CtError:
    return CtError(400, "InvalidInput", message)


def invalid_json(detail: str) -> CtError:
    return CtError(400, "InvalidJsonInput", "Request body does not contain valid JSON.",
                   detailedErrorMessage=detail)


def invalid_token() -> CtError:
    return CtError(401, "invalid_token", "invalid_token")


def insufficient_scope(scopes: list[str]) -> CtError:
    return CtError(403, "insufficient_scope",
                   "Insufficient scope. One of the following scopes is missing: "
                   + ", ".join(scopes))


def invalid_client() -> CtError:
    return CtError(401, "invalid_client",
                   "Please provide valid client credentials using HTTP Basic Authentication.")
