import numpy as np


def test_traffic_sample_opens_in_napari(make_napari_viewer):
    viewer = make_napari_viewer()
    [layer] = viewer.open_sample("napari-gmm-background", "traffic")
    assert layer.rgb and layer.data.shape == (120, 240, 320, 3) and layer.data.dtype == np.uint8
    assert layer.metadata["true_background"].shape == (240, 320, 3)


def test_timelapse_sample_is_uint16(make_napari_viewer):
    viewer = make_napari_viewer()
    [layer] = viewer.open_sample("napari-gmm-background", "timelapse")
    assert not layer.rgb and layer.data.dtype == np.uint16 and layer.data.ndim == 3


def test_manifest_is_valid_and_imports():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("napari-gmm-background")
    manifest.validate_imports()
    contributions = manifest.contributions
    assert {r.command for r in contributions.readers} == {"napari-gmm-background.read_video"}
    assert [w.display_name for w in contributions.widgets] == ["Extract background (GMM)"]
    assert "napari/layers/project" in contributions.menus
