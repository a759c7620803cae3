"""Adapters translate between one chat platform and the core; only they know a platform."""
