"""`aether-local indexes` creates every index of aether.store.indexes, and running it again is harmless."""

import os
import subprocess
import sys
import uuid

from pymongo import MongoClient

from aether.store.indexes import INDEXES
from tests.helpers import ROOT


def run_indexes(mongo_url: str, db_name: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "aether_local.cli", "indexes"],
        cwd=ROOT,
        env={**os.environ, "MONGO_URL": mongo_url, "MONGO_DB": db_name},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_indexes_command_applies_every_spec_and_is_idempotent(mongo_url):
    db_name = f"aether_indexes_{uuid.uuid4().hex[:8]}"
    client: MongoClient = MongoClient(mongo_url)
    try:
        # Given an empty database
        # When the command runs twice
        first = run_indexes(mongo_url, db_name)
        second = run_indexes(mongo_url, db_name)
        # Then the first run created each index and the second found them all there
        assert first[:2] == ["MongoDB: MONGO_URL from the environment", f"Database: {db_name}"]
        names = [f"{spec.collection}.{spec.name} " for spec in INDEXES]
        assert [line.split("(")[0] for line in first[2:]] == names
        assert all(line.endswith(": created") for line in first[2:])
        assert all(line.endswith(": already there") for line in second[2:])
        # And each collection lists its indexes with the declared keys
        for spec in INDEXES:
            listed = {index["name"]: index for index in client[db_name][spec.collection].list_indexes()}
            assert spec.name in listed
            if "text" not in dict(spec.keys).values():  # MongoDB lists a text index's keys as _fts/_ftsx
                assert list(listed[spec.name]["key"].items()) == spec.keys
    finally:
        client.drop_database(db_name)
