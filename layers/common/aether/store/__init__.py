"""MongoDB repositories: conversations, messages, usage."""
