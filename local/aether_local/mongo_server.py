"""The mongoeco MongoDB wire-protocol server, run as its own process.

`python -m aether_local.mongo_server [--sqlite PATH] [--port N]` prints its mongodb:// URL on
the first line of stdout once it accepts connections.
"""

import argparse
import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

__all__ = ["start_mongo"]


def _mend_text_search() -> None:
    """Work around two mongoeco 4.11 bugs with `$text` queries, so local search finds results.

    An inclusion projection on a `$text` query returns only `_id` and the score, and a sort on
    `{"$meta": "textScore"}` is ignored: both because the matched documents reach projection and
    sorting wrapped in a RuntimeDocumentState. This unwraps them; a real MongoDB needs nothing.
    Pinned to mongoeco==4.11.0 (pyproject.toml): re-check on an upgrade.
    """
    from mongoeco.core import projections, sorting
    from mongoeco.core.runtime_metadata import RuntimeDocumentState

    apply_tree = projections._apply_inclusion_tree
    # mongoeco's own functions, replaced with wrappers that take what they receive in fact (a
    # RuntimeDocumentState where its signatures say dict): a gap in its types, not in ours
    projections._apply_inclusion_tree = lambda state, tree: apply_tree(  # type: ignore[assignment]
        state.document if isinstance(state, RuntimeDocumentState) else state, tree
    )
    sort_value = sorting.sort_value

    def metadata_aware_sort_value(document: object, field: str, direction: int, **kwargs: object) -> object:
        if isinstance(document, RuntimeDocumentState) and field.startswith("\x00"):
            return document.resolve(field)[1]
        return sort_value(document, field, direction, **kwargs)  # type: ignore[arg-type]

    sorting.sort_value = metadata_aware_sort_value


async def _serve(sqlite_path: str | None, port: int) -> None:
    from mongoeco.engines import MemoryEngine, SQLiteEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    _mend_text_search()

    engine = SQLiteEngine(sqlite_path) if sqlite_path else MemoryEngine()
    async with AsyncMongoEcoProxyServer(engine=engine, port=port) as server:
        print(server.address.uri, flush=True)
        await asyncio.Event().wait()


def start_mongo(sqlite_path: Path | None = None, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """Start the server in a child process; return it and its URL once it is listening."""
    args = [sys.executable, "-m", "aether_local.mongo_server", "--port", str(port)]
    if sqlite_path is not None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        args += ["--sqlite", str(sqlite_path)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("mongodb://"):
        process.kill()
        raise RuntimeError("the mongoeco wire server did not start")
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite", help="SQLite file (data survives restarts); memory when omitted")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.sqlite, args.port))


if __name__ == "__main__":
    main()
