"""Aether: the shared layer of the Aether Lambda functions."""
