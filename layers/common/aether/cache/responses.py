"""AI-response cache keys: what makes two model calls interchangeable."""

import hashlib
import json

__all__ = ["digest", "normalize"]

_VERSION = 2  # part of every digest: a change of what a cached answer holds misses the old entries


def normalize(prompt: str) -> str:
    return " ".join(prompt.lower().split())


def digest(
    *, agent: str, model: str, prompt: str, history: list[dict[str, str]], temperature: float, max_tokens: int
) -> str:
    """Hash of agent, model, normalized prompt, history and generation parameters.

    The scope (the user, or "shared") is the cache namespace, not part of the digest.
    """
    material = json.dumps(
        [_VERSION, agent, model, normalize(prompt), history, temperature, max_tokens], separators=(",", ":")
    )
    return hashlib.sha256(material.encode()).hexdigest()
