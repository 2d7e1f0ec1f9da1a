"""``python -m napari_gmm_background`` is the command line."""

import subprocess
import sys


def test_module_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "napari_gmm_background", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert "--method" in done.stdout and "--memory-budget" in done.stdout
