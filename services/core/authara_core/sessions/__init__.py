"""Sessions, refresh tokens and access tokens: who is signed in."""
