"""Train the router's weights: two logistic-regression heads over the same inputs, the message's
binary features (each message's row of unit length) and the mean of its words' vectors.

Deterministic: the same examples give the same bytes (one BLAS thread, fixed folds, no random
state left to chance, weights rounded to int8). Everything tuned here (regularisation and the
thresholds) is chosen by cross-validation on the training examples alone; held-out examples never
reach this module.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold

from aether.agents.catalog import AGENTS
from aether.agents.features import FEATURES_VERSION, SHAPE, features, words
from aether.agents.router import LARGE_TASKS, MAGIC, TASKS
from aether_local.router_training.data import Example, holdout_key

__all__ = ["MAX_PER_LABEL", "Trained", "pack", "train"]

MIN_DOCUMENTS = 3  # a feature must occur in this many training messages to be kept
MAX_PER_LABEL = 6000  # examples of one label from one source, at most (a stable hash picks them)
C_GRID = (0.5, 2.0, 8.0)
FOLDS = 3
# Fallback to the default agent below the confidence of all but this share of (out-of-fold)
# labelled messages; the tier leans large so that this share of math, reasoning and code
# messages reaches the large tier when their source is one the model never saw (folds by source).
AGENT_FALLBACK_SHARE = 0.02
LARGE_RECALL = 0.95
TASK_MIN_CONFIDENCE = 0.5  # a task kind is sure when more probable than all the others together
LEAN_GRID = tuple(round(0.05 * i, 2) for i in range(1, 11))
# The mean word vector's length next to the binary features' (unit length): chosen on the team's
# own examples, against 1 and 4 (BENCHMARKS.md)
WORD_VECTOR_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class Trained:
    blob: bytes
    report: dict[str, Any]


def pack(
    header: dict[str, Any], vocabulary: list[str], rows: bytes, table_words: list[str], word_rows: bytes
) -> bytes:
    """The weights file: MAGIC, the header as one line of JSON, the features one per line, the
    words one per line, then one int8 row per feature and one per word (every agent's score,
    then every task kind's)."""
    names, word_names = "\n".join(vocabulary).encode(), "\n".join(table_words).encode()
    header = {
        **header,
        "features": len(vocabulary),
        "vocabulary_bytes": len(names),
        "words": len(table_words),
        "words_bytes": len(word_names),
    }
    line = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([MAGIC, line, b"\n", names, word_names, rows, word_rows])


def _capped(examples: list[Example], label: str) -> list[Example]:
    """At most MAX_PER_LABEL examples per (source, label), picked by a stable hash of their key."""
    groups: dict[tuple[str, str], list[Example]] = {}
    for example in examples:
        value = getattr(example, label)
        if value is not None:
            groups.setdefault((example.source, value), []).append(example)
    kept: list[Example] = []
    for group in groups.values():
        group.sort(key=lambda e: (holdout_key(e.source, e.key), e.key))
        kept.extend(group[:MAX_PER_LABEL])
    kept.sort(key=lambda e: (e.source, e.key))
    return kept


def _vocabulary(feature_sets: list[set[str]]) -> dict[str, int]:
    documents = Counter(f for fs in feature_sets for f in fs)
    kept = sorted(f for f, n in documents.items() if n >= MIN_DOCUMENTS)
    return {f: i for i, f in enumerate(kept)}


def _matrix(feature_sets: list[set[str]], vocabulary: dict[str, int]) -> csr_matrix:
    """Binary features, each row scaled to unit length (as the router scores them)."""
    indptr, indices, values = [0], [], []
    for fs in feature_sets:
        columns = sorted(vocabulary[f] for f in fs if f in vocabulary)
        indices.extend(columns)
        values.extend([1 / np.sqrt(len(columns))] * len(columns))
        indptr.append(len(indices))
    return csr_matrix((values, indices, indptr), shape=(len(feature_sets), len(vocabulary)), dtype=np.float64)


def _model(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=3000, tol=1e-5)


def _out_of_fold(
    x: csr_matrix, y: np.ndarray, c: float, classes: list[str], groups: list[str] | None = None
) -> np.ndarray:
    """Each example's probabilities from a model that did not train on it (columns: classes); with
    `groups`, from a model that did not train on its group (a class none of the others has gets 0)."""
    found = np.zeros((len(y), len(classes)))
    folds = (
        StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y)
        if groups is None or len(set(groups)) < 2
        else GroupKFold(min(FOLDS, len(set(groups)))).split(x, y, groups)
    )
    for fit_rows, test_rows in folds:
        model = _model(c).fit(x[fit_rows], y[fit_rows])
        probabilities = model.predict_proba(x[test_rows])
        for column, name in enumerate(model.classes_):
            found[test_rows, classes.index(name)] = probabilities[:, column]
    return found


def _group(example: Example) -> str:
    """Where an example comes from: its source, or its site for the Stack Exchange titles."""
    return example.key.rsplit(":", 1)[0] if example.source.startswith("tweac") else example.source


def _head(
    x: csr_matrix, labels: list[str], classes: list[str]
) -> tuple[LogisticRegression, np.ndarray, float]:
    """The head at the C with the best out-of-fold balanced accuracy, and its out-of-fold probabilities."""
    y = np.array(labels)
    best: tuple[float, float, np.ndarray] | None = None
    for c in C_GRID:
        found = _out_of_fold(x, y, c, classes)
        predicted = np.array(classes)[found.argmax(axis=1)]
        balanced = float(np.mean([np.mean(predicted[y == k] == k) for k in classes if np.any(y == k)]))
        if best is None or balanced > best[0]:
            best = (balanced, c, found)
    assert best is not None
    return _model(best[1]).fit(x, y), best[2], best[1]


def _lean_large_at(probabilities: np.ndarray, labels: list[str]) -> float:
    """The highest P(math, reasoning or code) at which an unsure message goes large such that
    LARGE_RECALL of those messages reach the large tier (`probabilities` out of fold)."""
    large = np.array([TASKS.index(t) for t in TASKS if t in LARGE_TASKS])
    large_p = probabilities[:, large].sum(axis=1)
    sure = probabilities.max(axis=1) >= TASK_MIN_CONFIDENCE
    sure_large = np.isin(probabilities.argmax(axis=1), large)
    wanted = np.array([t in LARGE_TASKS for t in labels])
    chosen = LEAN_GRID[0]
    for lean in LEAN_GRID:
        on_large = np.where(sure, sure_large, large_p >= lean)
        if on_large[wanted].mean() >= LARGE_RECALL:
            chosen = lean
    return chosen


def _quantised(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(weights).max(axis=0) / 127
    scale[scale == 0] = 1.0
    return np.clip(np.rint(weights / scale), -127, 127).astype(np.int8), scale


def _coefficients(model: LogisticRegression, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    order = [list(model.classes_).index(name) for name in classes]
    return model.coef_[order].T, model.intercept_[order]


def _mean_vectors(texts: list[str], vectors: Mapping[str, np.ndarray]) -> csr_matrix:
    """Each message's mean word vector (words without one left out) times WORD_VECTOR_WEIGHT."""
    width = len(next(iter(vectors.values())))
    rows = np.zeros((len(texts), width))
    for i, text in enumerate(texts):
        known = [vectors[w] for w in words(text) if w in vectors]
        if known:
            rows[i] = np.mean(known, axis=0) * WORD_VECTOR_WEIGHT
    return csr_matrix(rows)


def _inputs(feature_sets: list[set[str]], vocabulary: dict[str, int], means: csr_matrix) -> csr_matrix:
    return hstack([_matrix(feature_sets, vocabulary), means]).tocsr()


def _selected(
    vocabulary: dict[str, int], heads: list[tuple[list[set[str]], csr_matrix, list[str]]]
) -> dict[str, int]:
    """The features that keep a non-zero int8 weight in a first fit of each head (C = 1)."""
    weights = []
    for feature_sets, means, labels in heads:
        model = _model(1.0).fit(_inputs(feature_sets, vocabulary, means), np.array(labels))
        weights.append(model.coef_[:, : len(vocabulary)].T)
    quantised, _ = _quantised(np.hstack(weights))
    names = sorted(vocabulary, key=vocabulary.__getitem__)
    return {names[i]: n for n, i in enumerate(np.flatnonzero(np.abs(quantised).sum(axis=1)))}


def train(examples: list[Example], vectors: Mapping[str, np.ndarray]) -> Trained:
    """Weights (the bytes of router.weights) and a report of what was chosen and why.

    Features occurring in MIN_DOCUMENTS messages are candidates; those a first fit leaves at zero
    after rounding are dropped, and the heads are fitted again on the rest, so the weights file
    holds exactly the features the final model was trained on. Every word of `vectors` gets a
    row: its vector times the heads' weights for the mean vector.
    """
    agents, tasks = list(AGENTS), list(TASKS)
    by_agent, by_task = _capped(examples, "agent"), _capped(examples, "task")
    agent_labels, task_labels = [str(e.agent) for e in by_agent], [str(e.task) for e in by_task]
    cache: dict[str, set[str]] = {}
    task_sets = [cache.setdefault(e.text, features(e.text)) for e in by_task]
    agent_sets = [
        {f for f in cache.setdefault(e.text, features(e.text)) if not f.startswith(SHAPE)} for e in by_agent
    ]  # a message's length and lines say what kind of task it is, not whose field
    agent_means = _mean_vectors([e.text for e in by_agent], vectors)
    task_means = _mean_vectors([e.text for e in by_task], vectors)
    candidates = _vocabulary(list(cache.values()))
    vocabulary = _selected(
        candidates, [(agent_sets, agent_means, agent_labels), (task_sets, task_means, task_labels)]
    )
    agent_x = _inputs(agent_sets, vocabulary, agent_means)
    task_x = _inputs(task_sets, vocabulary, task_means)
    agent_model, agent_oof, agent_c = _head(agent_x, agent_labels, agents)
    task_model, _, task_c = _head(task_x, task_labels, tasks)
    agent_w, agent_b = _coefficients(agent_model, agents)
    task_w, task_b = _coefficients(task_model, tasks)
    weights = np.hstack([agent_w, task_w])  # inputs x outputs: the features, then the vector's
    quantised, scale = _quantised(weights[: len(vocabulary)])
    table_words = sorted(vectors)
    scores = np.array([vectors[w] for w in table_words]) @ weights[len(vocabulary) :] * WORD_VECTOR_WEIGHT
    word_quantised, word_scale = _quantised(scores)
    thresholds = {
        "agent_min_confidence": round(float(np.quantile(agent_oof.max(axis=1), AGENT_FALLBACK_SHARE)), 4),
        "task_min_confidence": TASK_MIN_CONFIDENCE,
        "lean_large_at": _lean_large_at(
            _out_of_fold(task_x, np.array(task_labels), task_c, tasks, [_group(e) for e in by_task]),
            task_labels,
        ),
    }
    digest = hashlib.sha256()
    for e in sorted(by_agent + by_task, key=lambda e: (e.source, e.key)):
        digest.update(json.dumps([e.source, e.key, e.text, e.agent, e.task]).encode())
    header = {
        "features_version": FEATURES_VERSION,
        "data_sha256": digest.hexdigest(),
        "agents": agents,
        "tasks": tasks,
        "thresholds": thresholds,
        "c": {"agent": agent_c, "task": task_c},
        "scale": [float(f"{s:.8g}") for s in scale],
        "word_scale": [float(f"{s:.8g}") for s in word_scale],
        "bias": [round(float(b), 6) for b in np.concatenate([agent_b, task_b])],
    }
    blob = pack(header, list(vocabulary), quantised.tobytes(), table_words, word_quantised.tobytes())
    report = {
        "examples": {"agent": len(by_agent), "task": len(by_task)},
        "per_label": {"agent": dict(Counter(agent_labels)), "task": dict(Counter(task_labels))},
        "features": {"candidates": len(candidates), "kept": len(vocabulary), "words": len(table_words)},
        **{k: header[k] for k in ("thresholds", "c", "data_sha256")},
        "bytes": len(blob),
    }
    return Trained(blob, report)
