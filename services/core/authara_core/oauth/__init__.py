"""Sign-in with OAuth 2.0 / OpenID Connect providers (authorization code + PKCE)."""
