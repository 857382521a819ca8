"""Domain errors. Their `error_id`s are part of the public API: never rename one."""

from __future__ import annotations

from typing import Any


class TongdaiError(Exception):
    """Base of every error the API reports; one handler turns it into the error body."""

    error_id: str = "internal_error"
    status: int = 500
    message: str = "internal error"

    def __init__(self, message: str | None = None, *, details: Any = None, error_id: str | None = None):
        self.message = message or self.message
        self.details = details
        if error_id is not None:
            self.error_id = error_id
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class NotFound(TongdaiError):
    error_id = "not_found"
    status = 404
    message = "not found"


class Conflict(TongdaiError):
    error_id = "conflict"
    status = 409
    message = "conflict"


class InvalidInput(TongdaiError):
    error_id = "invalid_input"
    status = 422
    message = "invalid input"


class Unauthenticated(TongdaiError):
    error_id = "unauthenticated"
    status = 401
    message = "authentication required"


class Forbidden(TongdaiError):
    error_id = "forbidden"
    status = 403
    message = "not allowed for this role"
