"""Outputs appear whole or not at all, and never replace an input."""

import os
import stat

import pytest

from napari_gmm_background.io.outputs import OutputError, PendingOutputs


def names(folder):
    return sorted(path.name for path in folder.iterdir())


def test_outputs_appear_together_and_leave_no_temporaries(tmp_path):
    with PendingOutputs() as outputs:
        image = outputs.add_file(tmp_path / "out" / "bg.png")
        masks = outputs.add_folder(tmp_path / "out" / "masks")
        image.write_bytes(b"background")
        (masks / "mask_000000.png").write_bytes(b"mask")
        assert not (tmp_path / "out" / "bg.png").exists()  # nothing before the commit
        outputs.commit()
    assert names(tmp_path / "out") == ["bg.png", "masks"]
    assert (tmp_path / "out" / "bg.png").read_bytes() == b"background"
    assert names(tmp_path / "out" / "masks") == ["mask_000000.png"]


def test_a_failed_run_leaves_nothing_not_even_the_folders_it_made(tmp_path):
    with pytest.raises(RuntimeError), PendingOutputs() as outputs:
        outputs.add_file(tmp_path / "new" / "deeper" / "bg.png").write_bytes(b"half")
        outputs.add_folder(tmp_path / "new" / "masks")
        raise RuntimeError("the fit failed")
    assert names(tmp_path) == []


def test_existing_targets_are_refused_or_replaced_when_allowed(tmp_path):
    target = tmp_path / "bg.png"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="--overwrite"), PendingOutputs() as outputs:
        outputs.add_file(target)
    assert target.read_bytes() == b"keep me" and names(tmp_path) == ["bg.png"]
    with PendingOutputs(overwrite=True) as outputs:
        outputs.add_file(target).write_bytes(b"new")
        outputs.commit()
    assert target.read_bytes() == b"new" and names(tmp_path) == ["bg.png"]


@pytest.mark.parametrize("where", ["the input", "inside a folder input", "a folder holding it"])
def test_an_output_may_never_be_in_or_hold_an_input(tmp_path, where):
    video = tmp_path / "clip.avi"
    video.write_bytes(b"precious")
    frames = tmp_path / "frames"
    frames.mkdir()
    inputs = [video, frames]
    with pytest.raises(OutputError), PendingOutputs(overwrite=True, inputs=inputs) as outputs:
        if where == "the input":
            outputs.add_file(video)
        elif where == "inside a folder input":
            outputs.add_file(frames / "bg.png")
        else:
            outputs.add_folder(tmp_path)
    assert video.read_bytes() == b"precious" and names(frames) == []


def test_a_target_appearing_meanwhile_wins_and_the_run_places_nothing(tmp_path):
    with pytest.raises(FileExistsError, match="appeared"), PendingOutputs() as outputs:
        outputs.add_file(tmp_path / "bg.png").write_bytes(b"mine")
        outputs.add_file(tmp_path / "masks.avi").write_bytes(b"mine too")
        (tmp_path / "masks.avi").write_bytes(b"another run's")  # a race, lost
        outputs.commit()
    assert names(tmp_path) == ["masks.avi"]
    assert (tmp_path / "masks.avi").read_bytes() == b"another run's"


def test_a_failed_replacement_restores_the_old_outputs(tmp_path, monkeypatch):
    import os

    for name in ("bg.png", "other.png"):
        (tmp_path / name).write_bytes(b"old " + name.encode())
    real_link = os.link

    def failing_link(source, target):
        if str(target).endswith("other.png"):
            raise PermissionError(13, "denied")
        return real_link(source, target)

    def no_open(*args, **kwargs):
        raise PermissionError(13, "denied")

    with pytest.raises(PermissionError), PendingOutputs(overwrite=True) as outputs:
        outputs.add_file(tmp_path / "bg.png").write_bytes(b"new")
        outputs.add_file(tmp_path / "other.png").write_bytes(b"new")
        monkeypatch.setattr(os, "link", failing_link)
        monkeypatch.setattr(os, "open", no_open)  # no fallback either
        outputs.commit()
    assert (tmp_path / "bg.png").read_bytes() == b"old bg.png"
    assert (tmp_path / "other.png").read_bytes() == b"old other.png"
    assert names(tmp_path) == ["bg.png", "other.png"]


def test_a_folder_is_replaced_whole_and_only_if_it_holds_such_outputs(tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    for index in range(5):
        (masks / f"mask_{index:06d}.png").write_bytes(b"old")
    only_masks = lambda folder: all(p.name.startswith("mask_") for p in folder.iterdir())  # noqa: E731
    with PendingOutputs(overwrite=True) as outputs:
        new = outputs.add_folder(masks, replaceable=only_masks)
        for index in range(2):
            (new / f"mask_{index:06d}.png").write_bytes(b"new")
        outputs.commit()
    assert names(masks) == ["mask_000000.png", "mask_000001.png"]  # no stale masks
    (masks / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="other files"), PendingOutputs(overwrite=True) as outputs:
        outputs.add_folder(masks, replaceable=only_masks)
    assert "notes.txt" in names(masks)


def test_clear_messages_for_impossible_targets(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"), PendingOutputs() as outputs:
        outputs.add_file(tmp_path / "a_file" / "bg.png")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match="is a folder"), PendingOutputs(overwrite=True) as out:
        out.add_file(tmp_path / "folder")
    with pytest.raises(OutputError, match="twice"), PendingOutputs() as outputs:
        outputs.add_file(tmp_path / "bg.png")
        outputs.add_file(tmp_path / "bg.png")


def test_two_runs_never_share_a_temporary(tmp_path):
    with PendingOutputs() as first, PendingOutputs() as second:
        assert first.add_file(tmp_path / "bg.png") != second.add_file(tmp_path / "bg.png")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_outputs_get_the_permissions_a_plain_write_would_give(tmp_path):
    previous = os.umask(0o022)
    try:
        with PendingOutputs() as outputs:
            outputs.add_file(tmp_path / "bg.png").write_bytes(b"background")
            outputs.add_folder(tmp_path / "masks")
            outputs.commit()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "bg.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "masks").stat().st_mode) == 0o755


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_write_file_raises_naming_the_file_when_the_disk_is_full():
    from napari_gmm_background.io.outputs import write_bytes

    with pytest.raises(OSError, match="/dev/full") as raised:
        write_bytes("/dev/full", b"x" * 10)  # small: it fails only when flushed
    assert raised.value.errno == 28


def test_a_failed_write_is_named_by_its_target_not_its_temporary(tmp_path):
    import errno

    target = tmp_path / "bg.png"
    with pytest.raises(OSError, match=f"could not write {target}: No space") as raised:
        with PendingOutputs() as outputs:
            temporary = outputs.add_file(target)
            raise OSError(errno.ENOSPC, "No space left on device", str(temporary))
    assert "nothing was written" in str(raised.value) and names(tmp_path) == []
