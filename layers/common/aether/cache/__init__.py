"""Caching of model answers."""
