"""Authara core."""
