"""The README documents every setting the code reads."""

import re
from dataclasses import fields

from aether.settings import Settings
from tests.helpers import ROOT


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    missing = {f.name.upper() for f in fields(Settings)} - documented
    assert not missing, f"README lacks {sorted(missing)}"
