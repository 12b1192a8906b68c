"""Developer tooling for Aether, never deployed: `aether-local serve | invoke` and local stand-ins."""
