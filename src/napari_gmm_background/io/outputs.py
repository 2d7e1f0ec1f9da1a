"""Writing outputs without ever losing a file: a run's outputs appear whole, or not at all.

Every output is first written under a unique temporary name beside its target
(so two runs never share a temporary, and a move into place never crosses
file systems). Only when all of a run's outputs are complete are they moved
into place together: an existing target is refused unless the caller allows
replacing it, and is then kept aside until the new outputs are all in place,
so a failure part way restores it. A target may never be, contain, or lie
inside one of the run's inputs. Interrupted or failed runs leave nothing but
what was there before.

A file counts as written only once its last byte is on disk: every file is
written by :func:`write_file`, through Python's own I/O (which raises on a
full disk both when writing and when closing), then synced. Encoders that
write files themselves (OpenCV's ``imwrite`` reports success for a small
image whose bytes never reached a full disk) are not used for outputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["OutputError", "PendingOutputs", "write_bytes", "write_file"]


class OutputError(ValueError):
    """An output that cannot be written where it was asked for, with the reason."""


@dataclass
class _Pending:
    target: Path
    temporary: Path
    folder: bool


def write_file(path: "os.PathLike | str", write: "Callable[[BinaryIO], object]") -> None:
    """Write a whole file: ``write(file)`` fills it, then it is flushed, synced and closed.

    Any failure on the way (a full disk at a write, at the final flush or at
    closing; an I/O error when syncing) raises ``OSError``: a file that was
    not wholly written is never taken for one that was.
    """
    try:
        with open(path, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        if error.filename is not None:
            raise
        # A failed write or close names no file: this one.
        reason = error.strerror or str(error) or type(error).__name__
        raise OSError(error.errno, reason, os.fspath(path)) from error


def write_bytes(path: "os.PathLike | str", data: "bytes | memoryview") -> None:
    """Write ``data`` as a whole file (see :func:`write_file`)."""
    write_file(path, lambda file: file.write(data))


def sync_file(path: "os.PathLike | str") -> None:
    """Put a file some other writer made (a video encoder's) on disk; OSError if that fails."""
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the names moved into a folder durable (POSIX; elsewhere nothing to do)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _inside(path: Path, folder: Path) -> bool:
    return path != folder and folder in path.parents


def _give_usual_permissions(path: Path, mode: int) -> None:
    """The permissions a plain ``open`` or ``mkdir`` would give (``mode`` less the umask).

    Temporaries are created private (0600, 0700); an output moved into place
    must not stay unreadable to the user's group and others.
    """
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, mode & ~umask)


def _remove(path: Path) -> None:
    """Delete a file or a folder tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class PendingOutputs:
    """A run's outputs, written to temporaries and moved into place together.

    Use as a context manager: leaving it without :meth:`commit` (an error,
    Ctrl-C) deletes the temporaries and any folder it created.

    Parameters
    ----------
    overwrite : bool
        Replace existing targets (otherwise an existing target is an error,
        checked when it is added and again, atomically, when committing).
    inputs : iterable of path
        The run's inputs: no target may be one, contain one, or lie inside
        one (a folder of frames).

    Examples
    --------
    >>> with PendingOutputs(inputs=["clip.avi"]) as outputs:  # doctest: +SKIP
    ...     image = outputs.add_file(Path("bg.png"))
    ...     write_bytes(image, cv2.imencode(".png", background)[1])
    ...     outputs.commit()
    """

    def __init__(self, *, overwrite: bool = False, inputs: "Iterable[os.PathLike | str]" = ()):
        self.overwrite = overwrite
        self.inputs = [_resolved(Path(path)) for path in inputs]
        self._pending: "list[_Pending]" = []
        self._created_folders: "list[Path]" = []
        self._committed = False

    def __enter__(self) -> "PendingOutputs":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        target = self._target_of(getattr(error, "filename", None))
        if not self._committed:
            self.discard()
        if target is not None and isinstance(error, OSError):
            # Named as the user asked for it, not by its temporary.
            reason = error.strerror or f"{error} (is the disk full?)"
            raised = OSError(f"could not write {target}: {reason}; nothing was written")
            raised.errno = error.errno
            raise raised from error

    def _target_of(self, filename) -> "Path | None":
        """The target whose temporary (file, or folder holding it) ``filename`` is."""
        if not filename:
            return None
        path = _resolved(Path(os.fsdecode(filename)))
        for pending in self._pending:
            temporary = _resolved(pending.temporary)
            if path == temporary or (pending.folder and _inside(path, temporary)):
                return pending.target
        return None

    # -- adding ------------------------------------------------------------

    def add_file(self, target: "os.PathLike | str") -> Path:
        """Check a file target; return the temporary path to write it to (same suffix)."""
        target = Path(target)
        self._check(target, folder=False)
        parent = self._parent_of(target)
        try:
            handle, name = tempfile.mkstemp(
                prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=parent
            )
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        os.close(handle)
        temporary = Path(name)
        _give_usual_permissions(temporary, 0o666)
        self._pending.append(_Pending(target, temporary, folder=False))
        return temporary

    def add_folder(
        self,
        target: "os.PathLike | str",
        *,
        replaceable: "Callable[[Path], bool] | None" = None,
    ) -> Path:
        """Check a folder target; return the temporary folder to fill.

        With ``overwrite``, an existing folder is replaced only if
        ``replaceable(folder)`` says its contents are this kind of output
        (never a folder of the user's other files).
        """
        target = Path(target)
        self._check(target, folder=True)
        if target.exists() and self.overwrite and any(target.iterdir()):
            if replaceable is None or not replaceable(target):
                raise OutputError(
                    f"{target} holds other files; it is replaced only when it holds "
                    "nothing but outputs of this kind: pick another folder"
                )
        parent = self._parent_of(target)
        try:
            temporary = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent)
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        temporary = Path(temporary)
        _give_usual_permissions(temporary, 0o777)
        self._pending.append(_Pending(target, temporary, folder=True))
        return temporary

    def _check(self, target: Path, *, folder: bool) -> None:
        resolved = _resolved(target)
        for source in self.inputs:
            if resolved == source:
                raise OutputError(f"{target} is one of the inputs: an output may never replace one")
            if _inside(source, resolved):
                raise OutputError(f"{target} holds the input {source}: pick another output")
            if _inside(resolved, source):
                raise OutputError(f"{target} lies inside the input {source}: pick another output")
        for pending in self._pending:
            if _resolved(pending.target) == resolved:
                raise OutputError(f"{target} is asked for twice in one run")
        for ancestor in reversed(resolved.parents):
            if ancestor.exists() and not ancestor.is_dir():
                raise OutputError(f"cannot write {target}: {ancestor} is a file, not a folder")
        if target.exists() or target.is_symlink():
            if target.is_dir() != folder:
                kind = "a folder" if target.is_dir() else "a file"
                raise OutputError(f"{target} exists and is {kind}")
            if not self.overwrite:
                raise FileExistsError(f"{target} exists (use --overwrite to replace it)")

    def _parent_of(self, target: Path) -> Path:
        """The target's folder, created (and remembered, to be removed if unused) if missing."""
        parent = target.parent
        missing = []
        for folder in [parent, *parent.parents]:
            if folder.exists():
                break
            missing.append(folder)
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create the folder {parent}: {error.strerror}") from None
        self._created_folders.extend(missing)  # deepest first
        return parent

    # -- finishing ---------------------------------------------------------

    def commit(self) -> None:
        """Move every output into place: all of them, or none (and the old ones back)."""
        aside: "list[tuple[Path, Path]]" = []
        placed: "list[_Pending]" = []
        try:
            for pending in self._pending:
                target = pending.target
                if target.exists() or target.is_symlink():
                    if not self.overwrite:
                        raise FileExistsError(
                            f"{target} appeared while this run was working; nothing was written"
                        )
                    kept = Path(
                        tempfile.mkdtemp(
                            prefix=f".{target.name}.", suffix=".old", dir=target.parent
                        )
                    )
                    os.rename(target, kept / target.name)
                    aside.append((kept, target))
            for pending in self._pending:
                self._place(pending)
                placed.append(pending)
        except BaseException:
            for pending in placed:
                _remove(pending.target)
            for kept, target in aside:
                os.rename(kept / target.name, target)
                kept.rmdir()
            raise
        for kept, _ in aside:
            _remove(kept)
        for folder in {pending.target.parent for pending in self._pending}:
            _sync_folder(folder)
        self._committed = True

    @staticmethod
    def _place(pending: _Pending) -> None:
        """Move a temporary to its target, failing if the target appeared meanwhile."""
        target, temporary = pending.target, pending.temporary
        if pending.folder:
            try:
                os.rename(temporary, target)  # fails on a non-empty folder
            except OSError as error:
                if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise FileExistsError(f"{target} appeared while this run wrote it") from None
                raise
            return
        try:
            os.link(temporary, target)  # atomic create-or-fail
        except FileExistsError:
            raise FileExistsError(f"{target} appeared while this run wrote it") from None
        except OSError:  # no hard links here: reserve the name, then replace it
            handle = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(handle)
            os.replace(temporary, target)
            return
        os.unlink(temporary)

    def discard(self) -> None:
        """Delete the temporaries, and the folders this run created for them if empty."""
        for pending in self._pending:
            _remove(pending.temporary)
        for folder in self._created_folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._pending.clear()
        self._created_folders.clear()
