"""The release's configuration agrees with itself: workflow matrix, classifiers, manifest."""

from importlib import resources
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "test_and_deploy.yml"
PYPROJECT = ROOT / "pyproject.toml"

needs_checkout = pytest.mark.skipif(
    not WORKFLOW.exists() or not PYPROJECT.exists(), reason="needs the source checkout"
)


@needs_checkout
def test_workflow_tests_every_os_and_every_python_the_package_claims():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
    assert set(matrix["platform"]) == {"ubuntu-latest", "windows-latest", "macos-latest"}
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    claimed = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    ]
    assert sorted(matrix["python-version"]) == sorted(claimed)
    assert project["requires-python"] == f">={min(claimed, key=lambda v: int(v.split('.')[1]))}"
    # A release only after the tests and the wheel check pass, and only on a tag.
    deploy = workflow["jobs"]["deploy"]
    assert set(deploy["needs"]) == {"test", "wheel"} and "refs/tags/v" in deploy["if"]


def test_the_installed_package_carries_its_manifest_and_version():
    import napari_gmm_background

    manifest = yaml.safe_load(
        resources.files("napari_gmm_background").joinpath("napari.yaml").read_text()
    )
    assert manifest["name"] == "napari-gmm-background"
    assert napari_gmm_background.__version__ not in ("", "unknown")
