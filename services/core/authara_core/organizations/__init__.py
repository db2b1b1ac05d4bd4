"""Organizations: personal and team organizations, memberships, the pinned mode."""
