"""Authara devstack."""
