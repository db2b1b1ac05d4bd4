"""Authara migrations."""
