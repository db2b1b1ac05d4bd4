"""Authara gateway."""
