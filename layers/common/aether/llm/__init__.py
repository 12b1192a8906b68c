"""Model catalog with prices, and the Groq chat client."""
