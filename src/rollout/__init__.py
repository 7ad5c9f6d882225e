"""Rollout: a rollout plan that runs itself."""

__version__ = "0.1.0"
