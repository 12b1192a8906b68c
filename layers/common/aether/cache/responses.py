"""AI-response cache keys: what makes two model calls interchangeable."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["digest", "normalize"]

_VERSION = 3  # part of every digest: a change of what a cached answer holds misses the old entries


def normalize(prompt: str) -> str:
    """The prompt as sent, but for surrounding whitespace: case, punctuation and inner whitespace
    change meaning in code, commands and names (`ls -l` is not `ls -L`)."""
    return prompt.strip()


def digest(
    *,
    agent: str,
    model: str,
    prompt: str,
    history: list[dict[str, Any]],
    temperature: float,
    max_tokens: int,
    options: Mapping[str, Any],
) -> str:
    """Hash of agent, model, normalized prompt, history and generation parameters (`options`:
    every other parameter that changes the answer: tools, response format, stop, seed...).

    The scope (the user, or "shared") is the cache namespace, not part of the digest.
    """
    material = json.dumps(
        [_VERSION, agent, model, normalize(prompt), history, temperature, max_tokens, options],
        separators=(",", ":"),
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()
