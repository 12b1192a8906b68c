"""`aether-local router train | evaluate`: rebuild the shipped weights and print their figures."""

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from aether.agents.router import Weights
from aether_local.router_training.data import Example, load
from aether_local.router_training.evaluate import evaluate, format_figures
from aether_local.router_training.sources import SOURCES, generated

__all__ = ["OWN_EXAMPLES", "evaluate_command", "train_command"]

OWN_EXAMPLES = Path("bench/router_eval.jsonl")  # the team's 225 prompts, agent labels only
CROSS_SOURCE = "sources never trained on"


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _examples(mirror: Path | None) -> tuple[list[Example], list[Example]]:
    """Training examples (public and generated) and held-out ones; a training example whose text
    is also held out is dropped, and so is a repeated text (the first one is kept)."""
    split = load(SOURCES, mirror)
    held = {_key(e.text) for e in split["heldout"]}
    seen: set[str] = set()
    training = []
    for example in [*split["train"], *generated()]:
        key = _key(example.text)
        if key not in held and key not in seen:
            seen.add(key)
            training.append(example)
    return training, split["heldout"]


def _own() -> list[Example]:
    rows = [json.loads(line) for line in OWN_EXAMPLES.read_text().splitlines() if line.strip()]
    return [Example(text=r["prompt"], agent=r["agent"], source="own", key=str(i)) for i, r in enumerate(rows)]


def _report(weights: Weights, heldout: list[Example]) -> str:
    trained_on = {s.name for s in SOURCES if s.use == "train"}
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in heldout:
        groups["held-out, all"].append(example)
        same = example.source in trained_on or example.source.startswith("tweac_stackexchange")
        groups["held-out, same sources as training" if same else f"held-out, {CROSS_SOURCE}"].append(example)
    blocks = [
        format_figures(f"Own examples ({OWN_EXAMPLES}, written by the team)", evaluate(weights, _own()))
    ]
    blocks += [
        format_figures(f"{name} ({len(rows)} messages)", evaluate(weights, rows))
        for name, rows in groups.items()
    ]
    return "\n\n".join(blocks)


def _mirror(args_mirror: str) -> Path | None:
    return Path(args_mirror) if args_mirror else None


def train_command(mirror: str, out: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread: the same bytes on every run
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from aether_local.router_training.train import train
    from aether_local.router_training.vectors import table_words, word_vectors

    training, heldout = _examples(_mirror(mirror))
    trained = train(training, word_vectors(table_words(e.text for e in training)))
    Path(out).write_bytes(trained.blob)
    print(json.dumps(trained.report, indent=2))
    print(f"Wrote {out} ({len(trained.blob):,} bytes)\n")
    print(_report(Weights(trained.blob), heldout))


def evaluate_command(mirror: str, weights_path: str) -> None:
    _, heldout = _examples(_mirror(mirror))
    weights = Weights(Path(weights_path).read_bytes())
    if not heldout:
        sys.exit("no held-out examples")
    print(_report(weights, heldout))
