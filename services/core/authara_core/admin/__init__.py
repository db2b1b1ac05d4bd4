"""Operator tasks: the admin CLI (the console later)."""
