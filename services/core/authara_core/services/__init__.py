"""Use cases; each public method owns its transaction."""
