"""The SAM template passes cfn-lint."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_cfn_lint_passes():
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert cfn_lint, "cfn-lint is a test dependency; run the set-up"
    result = subprocess.run(
        [cfn_lint, "template.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
