"""Training the router: the same examples give the same bytes, and the bytes are a working model.

A small slice of the team's own examples (agents), generated supplement (task kinds) and a few
prompts written for this test (the task kinds the supplement leaves to public data) stands in for
the public sources, which are not in the repository (docs/ROUTER_DATA.md).
"""

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aether.agents.features import words
from aether.agents.router import TASKS, Weights
from aether_local.router_training.data import Example, files_sha256, holdout_key
from aether_local.router_training.run import OWN_EXAMPLES
from aether_local.router_training.sources import generated
from aether_local.router_training.train import Trained, train


def small_slice() -> list[Example]:
    own = [json.loads(line) for line in OWN_EXAMPLES.read_text().splitlines() if line.strip()]
    agents = [
        Example(text=r["prompt"], agent=r["agent"], source="own", key=str(i)) for i, r in enumerate(own)
    ]
    written = Path("tests/data/router_slice.jsonl").read_text().splitlines()
    extra = [
        Example(text=r["text"], task=r["task"], source="test", key=str(i))
        for i, r in enumerate(map(json.loads, written))
    ]
    per_task: Counter[str] = Counter()
    tasks = []
    for example in [*generated(), *extra]:
        if example.task and per_task[example.task] < 12:
            per_task[example.task] += 1
            tasks.append(example)
    assert set(per_task) == set(TASKS)
    return agents[::3] + tasks


def made_vectors(examples: list[Example]) -> dict[str, np.ndarray]:
    """Stand-ins for the word vectors (vectors.py needs the model): fixed, distinct, unit length."""
    vocabulary = sorted({w for e in examples for w in words(e.text)})
    table = np.random.default_rng(7).normal(size=(len(vocabulary), 16))
    return dict(zip(vocabulary, table / np.linalg.norm(table, axis=1, keepdims=True), strict=True))


@pytest.fixture(scope="module")
def trained() -> tuple[list[Example], dict[str, np.ndarray], Trained]:
    examples = small_slice()
    vectors = made_vectors(examples)
    return examples, vectors, train(examples, vectors)


def test_training_is_deterministic_and_gives_a_working_model(trained):
    examples, vectors, first = trained
    second = train(list(reversed(examples)), vectors)  # the order of arrival does not matter
    assert first.blob == second.blob
    weights = Weights(first.blob)
    assert len(weights.word_rows) == len(vectors)
    agents, tasks = weights.probabilities("write pytest tests for the login form")
    assert math.isclose(sum(agents.values()), 1) and math.isclose(sum(tasks.values()), 1)
    assert set(first.report["thresholds"]) == {"agent_min_confidence", "task_min_confidence", "lean_large_at"}
    assert first.report["data_sha256"] == second.report["data_sha256"]


def test_other_examples_give_other_weights(trained):
    examples, vectors, first = trained
    assert train(examples[1:], vectors).blob != first.blob


def test_a_held_out_share_never_moves_and_file_digests_cover_paths_and_bytes():
    assert holdout_key("archisminer", "77086731") == holdout_key("archisminer", "77086731")
    assert len({holdout_key("s", str(i)) for i in range(1000)}) > 90  # spread over [0, 100)
    assert files_sha256({"a": b"1", "b": b"2"}) == files_sha256({"b": b"2", "a": b"1"})
    assert files_sha256({"a": b"1"}) != files_sha256({"b": b"1"}) != files_sha256({"a": b"2"})
