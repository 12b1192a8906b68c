"""Agent catalog and routing."""
