"""What the router reads in a message: words, word pairs, pieces of words and the message's shape
(features), and its words in order (words), whose meaning the weights carry as word vectors.

The same function feeds training (aether_local.router_training) and every routing decision, so
the two can never read a message differently. Changing it changes what the weights mean: bump
FEATURES_VERSION and retrain (the weights file records the version it was trained with).
"""

import re
from functools import lru_cache
from itertools import pairwise

__all__ = ["FEATURES_VERSION", "SHAPE", "features", "words"]

FEATURES_VERSION = 1
SHAPE = "@"  # the prefix of the two shape features (the task head reads them, the agent head not)

_TOKEN = re.compile(r"[a-z]+|\d+|\n|[^\sa-z\d]")
_WORD = re.compile(r"[a-z]{2,}")
_HEAD = 1500  # characters read from the start of a long message...
_TAIL = 500  # ...and from its end (a pasted passage's question is often last)
_MIN_GRAMS = 3  # character n-grams of "<word>", 3 to 5 characters, for words of 3 letters or more
_MAX_GRAMS = 5


@lru_cache(maxsize=50_000)
def _grams(word: str) -> tuple[str, ...]:
    marked = f"<{word}>"
    return tuple(
        f"#{marked[i : i + n]}" for n in range(_MIN_GRAMS, _MAX_GRAMS + 1) for i in range(len(marked) - n + 1)
    )


def _capped(text: str) -> str:
    return f"{text[:_HEAD]}\n{text[-_TAIL:]}" if len(text) > _HEAD + _TAIL else text


def words(text: str) -> list[str]:
    """The message's words of two letters or more, lower-cased, in order, repeats kept."""
    return _WORD.findall(_capped(text).lower())


def features(text: str) -> set[str]:
    """The message's features, each counted once: tokens (letters, digit runs as "0", a newline as
    "<nl>", each other character alone), adjacent token pairs, character n-grams of each word, and
    two shape features (length in tokens and in lines, on a log scale)."""
    text = _capped(text)
    tokens = [
        "0" if token[0].isdigit() else "<nl>" if token == "\n" else token
        for token in _TOKEN.findall(text.lower())
    ]
    found = set(tokens)
    found.update(f"{a} {b}" for a, b in pairwise(tokens))
    for word in found.copy():
        if len(word) >= 3 and word.isalpha():
            found.update(_grams(word))
    found.add(f"{SHAPE}tokens{min(len(tokens).bit_length(), 12)}")
    found.add(f"{SHAPE}lines{min(text.count(chr(10)).bit_length(), 6)}")
    return found
