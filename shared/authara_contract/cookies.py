"""Cookie names and attributes (upstream contract §2)."""

from dataclasses import dataclass
from typing import Final, Literal

_EPOCH: Final = "Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """Name and fixed attributes of one cookie; `Secure` depends on APP_ENV."""

    name: str
    http_only: bool
    path: str
    same_site: Literal["Lax", "Strict"] = "Lax"
    max_age: int | None = None
    secure_in_prod: bool = True

    def is_secure(self, *, prod: bool) -> bool:
        """Tell whether the cookie carries `Secure` in this environment."""
        return prod and self.secure_in_prod

    def clearing_header(self, *, prod: bool) -> str:
        """Build the Set-Cookie header value that deletes this cookie.

        A browser deletes a cookie only when name, path (and domain) match the one it holds,
        so the attributes are the cookie's own, never a copy.
        """
        parts = [f"{self.name}=", f"Path={self.path}", "Max-Age=0", f"Expires={_EPOCH}"]
        if self.http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.same_site}")
        if self.is_secure(prod=prod):
            parts.append("Secure")
        return "; ".join(parts)


ACCESS: Final = CookieSpec(name="authara_access", http_only=True, path="/")
REFRESH: Final = CookieSpec(name="authara_refresh", http_only=True, path="/")
CSRF: Final = CookieSpec(name="authara_csrf", http_only=False, path="/", max_age=30 * 24 * 3600)
OAUTH_NONCE: Final = CookieSpec(
    name="authara_oauth_nonce", http_only=True, path="/auth", max_age=600
)
FLASH: Final = CookieSpec(
    name="authara_flash", http_only=True, path="/", max_age=60, secure_in_prod=False
)
# Beyond upstream: binds an OAuth redirect flow to the browser that started it (a random
# secret; the server keeps only its hash and derives the PKCE verifier and nonce from it).
OAUTH_FLOW: Final = CookieSpec(name="authara_oauth_flow", http_only=True, path="/auth", max_age=600)

SESSION_COOKIES: Final = (ACCESS, REFRESH)
ALL: Final = (ACCESS, REFRESH, CSRF, OAUTH_NONCE, FLASH, OAUTH_FLOW)
