"""Deployment checks that need no Docker engine: Dockerfiles, compose, Kubernetes manifests."""
