"""``ApiRefusal``: an error answer decided while checking a request, raised by every checker."""

from __future__ import annotations

from typing import Any


class ApiRefusal(Exception):
    """An error answer: 400 ``invalid_request_error`` unless said otherwise. ``details`` is the
    error's ``details`` object (its ``error_code`` picks the SDK's own exception class, e.g.
    ``ImageDimensionsTooLargeError``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        error_type: str = "invalid_request_error",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.details = details
