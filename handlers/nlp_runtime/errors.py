"""The error a request can fail with, on its own: plain Python, so that wire-format modules can
raise it without importing TorchServe."""

from typing import Any


class RequestError(Exception):
    """A problem with one request; becomes that request's HTTP error."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, Any]:
        return {"code": self.status, "type": _error_type(self.status), "message": self.message}


def _error_type(status: int) -> str:
    if status == 400:
        return "BadRequest"
    if status < 500:
        return "ClientError"
    return "InternalServerError"
