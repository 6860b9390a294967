"""OAuth 2.0 error responses — RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorization).

https://www.rfc-editor.org/rfc/rfc6749#section-5.2 — ``error`` is one of a fixed set of ASCII
codes, ``error_description`` a human-readable text for the developer (never patient data).
"""

from __future__ import annotations

ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "unsupported_token_type",
        "server_error",
    }
)


class OAuthError(Exception):
    """An OAuth error: ``error`` code, description, and the HTTP status of a token-endpoint answer
    (401 for ``invalid_client`` with a ``WWW-Authenticate`` challenge, RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        assert error in ERROR_CODES, error
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status if status is not None else (401 if error == "invalid_client" else 400)

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out
