from aether.settings import Settings


def test_defaults_when_nothing_is_set():
    settings = Settings.from_env({})
    assert settings.max_message_chars == 8000
    assert settings.mongo_max_pool_size == 5
    assert settings.redis_url == ""


def test_values_are_read_and_typed_from_upper_case_names():
    settings = Settings.from_env({"MAX_MESSAGE_CHARS": "120", "REDIS_URL": "redis://h:1/0", "MONGO_DB": ""})
    assert settings.max_message_chars == 120
    assert settings.redis_url == "redis://h:1/0"
    assert settings.mongo_db == "aether"
