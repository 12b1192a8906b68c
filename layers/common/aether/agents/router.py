"""Intent routing: which agent should answer, decided locally in microseconds.

Each agent's vocabulary (lexicon.py) is matched against the prompt; code in the prompt counts
for dev. The best score wins; confidence is its share of the two best scores. A prompt with no
domain signal goes to the default agent with confidence 0; a close call (confidence under
AMBIGUOUS) is reported as ambiguous and still answered by the best-scoring agent, with the
runner-up named so a caller (or the multi-agent route) can involve it.
"""

import re
from dataclasses import dataclass

from aether.agents.catalog import AGENTS, DEFAULT_AGENT
from aether.agents.lexicon import LEXICON

__all__ = ["AMBIGUOUS", "CODE", "Routing", "route", "stem"]

AMBIGUOUS = 0.6

_WORD = re.compile(r"[a-z0-9][a-z0-9'#+.-]*[a-z0-9#+]|[a-z0-9]")
CODE = re.compile(
    r"```|`[^`]+`|\b(def|class|import|return|const|let|var|function|public|async)\b[^\n]*[({=:]"
    r"|=>|\w+\(\)|[{};]\s*$|Traceback|\w+Error\b|\w+Exception\b|\bat \w+\.\w+\("
    r"|\.(py|js|ts|tsx|jsx|go|rs|java|rb|php)\b",
    re.MULTILINE,
)
_CODE_WEIGHT = 4.0


def stem(word: str) -> str:
    """A light, consistent stemmer: the same stem for test, tests, tested, testing and tester."""
    for suffix in ("ings", "ing", "ers", "er", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word[-2] in "su":
                break
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


Weights = list[tuple[str, float]]


def _compile() -> tuple[dict[str, Weights], dict[str, Weights], list[tuple[str, bool, str, float]]]:
    words: dict[str, Weights] = {}
    prefixes: dict[str, Weights] = {}
    phrases: list[tuple[str, bool, str, float]] = []  # (text, matches a word prefix, agent, weight)
    for agent, terms in LEXICON.items():
        for term, weight in terms.items():
            is_prefix = term.endswith("*")
            body = term.rstrip("*")
            if " " in body or not body.isalnum():
                phrases.append((body, is_prefix, agent, weight))
            elif is_prefix:
                prefixes.setdefault(body, []).append((agent, weight))
            else:
                entries = words.setdefault(stem(body), [])
                same = [i for i, (a, _) in enumerate(entries) if a == agent]
                if same:  # "test" and "testing" share a stem: count it once, at the higher weight
                    entries[same[0]] = (agent, max(weight, entries[same[0]][1]))
                else:
                    entries.append((agent, weight))
    return words, prefixes, phrases


_WORDS, _PREFIXES, _PHRASES = _compile()
_PREFIX_LENGTHS = sorted({len(p) for p in _PREFIXES})


def _has_phrase(text: str, phrase: str, is_prefix: bool) -> bool:
    start = text.find(phrase)
    while start >= 0:
        end = start + len(phrase)
        before_ok = start == 0 or not text[start - 1].isalnum()
        if not is_prefix and text.startswith("s", end):  # plurals: "edge cases", "1:1s"
            end += 1
        after_ok = is_prefix or end == len(text) or not text[end].isalnum()
        if before_ok and after_ok:
            return True
        start = text.find(phrase, start + 1)
    return False


@dataclass(frozen=True, slots=True)
class Routing:
    agent: str
    confidence: float
    runner_up: str
    ambiguous: bool
    scores: dict[str, float]

    @property
    def ranked(self) -> list[str]:
        return sorted(self.scores, key=lambda a: (-self.scores[a], list(AGENTS).index(a)))


def route(prompt: str) -> Routing:
    text = prompt.lower()
    scores = dict.fromkeys(AGENTS, 0.0)
    for word in _WORD.findall(text):
        for agent, weight in _WORDS.get(stem(word), ()):
            scores[agent] += weight
        for length in _PREFIX_LENGTHS:
            if length > len(word):
                break
            for agent, weight in _PREFIXES.get(word[:length], ()):
                scores[agent] += weight
    for phrase, is_prefix, agent, weight in _PHRASES:
        if phrase in text and _has_phrase(text, phrase, is_prefix):
            scores[agent] += weight
    if CODE.search(prompt):
        scores["dev"] += _CODE_WEIGHT
    ranked = sorted(scores, key=lambda a: (-scores[a], list(AGENTS).index(a)))
    best, second = ranked[0], ranked[1]
    if scores[best] == 0:
        return Routing(DEFAULT_AGENT, 0.0, second if best == DEFAULT_AGENT else best, True, scores)
    confidence = round(scores[best] / (scores[best] + scores[second]), 3)
    return Routing(best, confidence, second, confidence < AMBIGUOUS, scores)
