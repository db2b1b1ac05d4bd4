"""Passkeys (WebAuthn): users' credentials, their ceremonies and the account page's list."""
