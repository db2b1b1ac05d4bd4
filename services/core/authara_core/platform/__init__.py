"""The web envelope and the parts every domain uses; it imports no domain."""
