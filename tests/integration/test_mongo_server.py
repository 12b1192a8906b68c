"""The embedded MongoDB of `aether-local` keeps its data across a restart (SQLite engine)."""

from pymongo import MongoClient

from aether_local.mongo_server import start_mongo


def test_sqlite_data_survives_a_restart(tmp_path):
    path = tmp_path / "mongo.sqlite"
    process, url = start_mongo(path)
    with MongoClient(url) as client:
        client.aether.conversations.insert_one({"_id": "c1", "title": "kept"})
    process.terminate()
    process.wait(10)
    process, url = start_mongo(path)
    try:
        with MongoClient(url) as client:
            assert client.aether.conversations.find_one({"_id": "c1"})["title"] == "kept"
    finally:
        process.terminate()
        process.wait(10)
