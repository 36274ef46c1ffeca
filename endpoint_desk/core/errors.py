"""The desk's own error hierarchy.

Library errors (aiohttp, SQLAlchemy, Playwright...) are translated into these at the
layer boundary. The router decides by ``kind``; front ends show ``title`` and the
message; the server maps ``http_status`` and ``openai_type`` onto OpenAI's error shape.
"""

from __future__ import annotations

from typing import ClassVar


class DeskError(Exception):
    """Base of every error the desk raises on purpose.

    Attributes:
        title: short user-facing name of the problem ("Unreachable").
        kind: stable machine-readable key the router and metrics use.
        http_status: status the /v1 server answers with.
        openai_type: the ``error.type`` field in OpenAI's error shape.
        retryable: whether another endpoint (or a later try) may succeed.
    """

    title: ClassVar[str] = "Error"
    kind: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "api_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.retry_after = retry_after
        self.status = status
        self.param = param

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """``Title: message`` on one line, for terminals and logs."""
        text = " ".join(self.message.split())
        return f"{self.title}: {text}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "title": self.title,
            "message": self.message,
            "endpoint": self.endpoint,
            "retry_after": self.retry_after,
            "status": self.status,
        }


class ConfigError(DeskError):
    """A broken config file, setting or endpoint specification."""

    title = "Configuration error"
    kind = "config"
    http_status = 400
    openai_type = "invalid_request_error"


class BadRequest(DeskError):
    """The caller sent something the desk or the upstream cannot accept."""

    title = "Bad request"
    kind = "bad_request"
    http_status = 400
    openai_type = "invalid_request_error"


class NotFound(DeskError):
    """An endpoint (or other named thing) that does not exist."""

    title = "Not found"
    kind = "not_found"
    http_status = 404
    openai_type = "invalid_request_error"


class ModelNotFound(NotFound):
    """No endpoint, or not this upstream, serves the requested model."""

    title = "Unknown model"
    kind = "model_not_found"
    http_status = 404


class Duplicate(DeskError):
    """A name that is already taken."""

    title = "Already exists"
    kind = "duplicate"
    http_status = 409
    openai_type = "invalid_request_error"


class Unreachable(DeskError):
    """Connection refused, DNS failure, reset: the upstream could not be reached."""

    title = "Unreachable"
    kind = "unreachable"
    http_status = 502
    openai_type = "api_connection_error"
    retryable = True


class UpstreamTimeout(Unreachable):
    """The upstream did not answer in time."""

    title = "Timed out"
    kind = "timeout"
    http_status = 504


class AuthFailed(DeskError):
    """401/403, an expired web session, a missing key: a person must act."""

    title = "Authentication failed"
    kind = "auth"
    http_status = 502
    openai_type = "authentication_error"


class LoginRequired(AuthFailed):
    """A web chat shows a login wall instead of its input."""

    title = "Login required"
    kind = "login_required"


class RateLimited(DeskError):
    """429 from an upstream, or the desk's own per-endpoint rate limit."""

    title = "Rate limited"
    kind = "rate_limited"
    http_status = 429
    openai_type = "rate_limit_error"
    retryable = True


class UpstreamError(DeskError):
    """The upstream answered with a server error (5xx) or an unexpected status."""

    title = "Upstream error"
    kind = "upstream"
    http_status = 502
    openai_type = "api_error"
    retryable = True


class ProtocolError(UpstreamError):
    """The upstream's answer is not what its protocol promises (invalid JSON,
    truncated stream, missing fields)."""

    title = "Invalid upstream response"
    kind = "protocol"


class ContentBlocked(DeskError):
    """The upstream refused to answer for safety or policy reasons."""

    title = "Blocked by the upstream"
    kind = "blocked"
    http_status = 400
    openai_type = "invalid_request_error"


class NoEndpointAvailable(DeskError):
    """Every candidate endpoint is off, tripped, limited or over budget."""

    title = "No endpoint available"
    kind = "no_endpoint"
    http_status = 503
    openai_type = "api_error"
    retryable = True


class BudgetExceeded(DeskError):
    """A daily spend cap was reached."""

    title = "Budget reached"
    kind = "budget"
    http_status = 429
    openai_type = "insufficient_quota"


class Overloaded(DeskError):
    """The desk's own concurrency limit for an endpoint is full."""

    title = "Busy"
    kind = "busy"
    http_status = 429
    openai_type = "rate_limit_error"
    retryable = True


class SwitchedOff(DeskError):
    """A person switched the endpoint OFF; the desk does not use it behind their back."""

    title = "Switched off"
    kind = "off"
    http_status = 409
    openai_type = "invalid_request_error"


class BrowserError(DeskError):
    """The browser or a page crashed, or the page no longer matches its selectors."""

    title = "Browser error"
    kind = "browser"
    http_status = 502
    openai_type = "api_error"
    retryable = True


class StoreError(DeskError):
    """The database could not be opened, read or written."""

    title = "Database error"
    kind = "store"
    http_status = 500


ERROR_KINDS: dict[str, type[DeskError]] = {
    cls.kind: cls
    for cls in (
        DeskError,
        ConfigError,
        BadRequest,
        NotFound,
        ModelNotFound,
        Duplicate,
        Unreachable,
        UpstreamTimeout,
        AuthFailed,
        LoginRequired,
        RateLimited,
        UpstreamError,
        ProtocolError,
        ContentBlocked,
        NoEndpointAvailable,
        BudgetExceeded,
        Overloaded,
        SwitchedOff,
        BrowserError,
        StoreError,
    )
}
"""Every error kind by its key, so a stored or serialized kind maps back to a class."""
