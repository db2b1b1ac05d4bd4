"""The email allowlist: who may sign up and sign in while the access policy is on."""
