"""Use cases the routes call."""
