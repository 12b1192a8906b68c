"""Examples and where they come from: pinned files of public repositories, checked by sha256.

A source's files are read, in this order, from a local mirror of its repository (a bare git
directory `<mirror>/<owner>+<name>/repo`, as the search tool's fetch leaves them), from the
download cache (.router-data/), or downloaded from GitHub at the pinned commit. One sha256 over
every file (`files_sha256`) checks that the bytes are the ones the weights were trained on.
"""

import hashlib
import json
import subprocess
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aether.agents.catalog import AGENTS
from aether.agents.router import TASKS

__all__ = ["CACHE", "Example", "Source", "files_sha256", "holdout_key", "load", "read_files"]

CACHE = Path(".router-data")
Use = Literal["train", "heldout"]


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    agent: str | None = None
    task: str | None = None
    source: str = ""
    key: str = ""
    link: str | None = None
    generated: bool = False  # written by the team, not by the public (the data card says which)


Parser = Callable[[dict[str, bytes]], Iterable[dict[str, object]]]


@dataclass(frozen=True, slots=True)
class Source:
    """A public data set pinned to a commit, and how to read examples out of its files.

    `use` "heldout" sources are evaluation data only. `holdout_percent` of a training source's
    examples (chosen by a hash of source and key, so the split never moves) is held out too.
    """

    name: str
    repo: str
    commit: str
    paths: tuple[str, ...]  # files, or folders (ending in "/") whose every file is read
    sha256: str  # files_sha256 of what they hold
    license: str
    parse: Parser
    use: Use = "train"
    holdout_percent: int = 0


def holdout_key(source: str, key: str) -> int:
    """A stable number in [0, 100) for an example: below a source's holdout_percent, it is held out."""
    return int.from_bytes(hashlib.sha256(f"{source}:{key}".encode()).digest()[:4], "big") % 100


def _git(source: Source, mirror: Path, *args: str) -> bytes | None:
    git_dir = mirror / source.repo.replace("/", "+") / "repo"
    if (git_dir / ".git").is_dir():  # some snapshots are clones with a work tree
        git_dir = git_dir / ".git"
    if not git_dir.is_dir():
        return None
    done = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def _github(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def _listing(source: Source, mirror: Path | None) -> list[str]:
    """Every file path the source reads, folders expanded, sorted."""
    folders = [p for p in source.paths if p.endswith("/")]
    found = [p for p in source.paths if not p.endswith("/")]
    if not folders:
        return sorted(found)
    listed = _git(source, mirror, "ls-tree", "-r", "--name-only", source.commit) if mirror else None
    if listed is None:
        tree = f"https://api.github.com/repos/{source.repo}/git/trees/{source.commit}?recursive=1"
        names = [entry["path"] for entry in json.loads(_github(tree))["tree"] if entry["type"] == "blob"]
    else:
        names = listed.decode().splitlines()
    found += [name for name in names if any(name.startswith(folder) for folder in folders)]
    return sorted(found)


def files_sha256(files: dict[str, bytes]) -> str:
    """One digest of several files: of each path and its content's sha256, in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\n".encode())
    return digest.hexdigest()


def read_files(source: Source, mirror: Path | None) -> dict[str, bytes]:
    """The source's files, byte for byte as pinned (ValueError if they differ)."""
    cache = CACHE / source.repo.replace("/", "+") / source.commit
    index = cache / f".{source.name}.paths.json"
    paths = json.loads(index.read_text()) if index.is_file() else _listing(source, mirror)
    files: dict[str, bytes] = {}
    for path in paths:
        cached = cache / path
        data = _git(source, mirror, "show", f"{source.commit}:{path}") if mirror is not None else None
        if data is None and cached.is_file():
            data = cached.read_bytes()
        if data is None:
            data = _github(f"https://raw.githubusercontent.com/{source.repo}/{source.commit}/{path}")
        files[path] = data
    digest = files_sha256(files)
    if digest != source.sha256:
        raise ValueError(f"{source.name}: its files have sha256 {digest}, pinned {source.sha256}")
    for path, data in files.items():
        if not (cache / path).is_file():
            (cache / path).parent.mkdir(parents=True, exist_ok=True)
            (cache / path).write_bytes(data)
    index.write_text(json.dumps(paths))
    return files


def _examples(source: Source, files: dict[str, bytes]) -> Iterator[tuple[Example, Use]]:
    for item in source.parse(files):
        if item.get("agent") not in {None, *AGENTS} or item.get("task") not in {None, *TASKS}:
            raise ValueError(
                f"{source.name}: {item['key']} has labels {item.get('agent')}, {item.get('task')}"
            )
        example = Example(
            text=str(item["text"]),
            agent=item.get("agent"),  # type: ignore[arg-type]
            task=item.get("task"),  # type: ignore[arg-type]
            source=source.name,
            key=str(item["key"]),
            link=item.get("link"),  # type: ignore[arg-type]
        )
        held = source.use == "heldout" or holdout_key(source.name, example.key) < source.holdout_percent
        yield example, "heldout" if held else "train"


def load(sources: Iterable[Source], mirror: Path | None) -> dict[Use, list[Example]]:
    """Every source's examples, split into training and held-out, in source order."""
    split: dict[Use, list[Example]] = {"train": [], "heldout": []}
    for source in sources:
        for example, use in _examples(source, read_files(source, mirror)):
            split[use].append(example)
    return split
