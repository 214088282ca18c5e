"""Checksummed downloads and safe, atomic archive extraction for the real datasets.

A raw input is described by a :class:`RemoteFile` (where it lives, what it must hash to).
:func:`fetch` is all or nothing: the file either appears complete and verified under its final
name, or nothing new is left in the directory (the temporary download is removed on every
failure, including a checksum mismatch and Ctrl-C). It never retries: offline machines get a
:class:`DownloadError` at once, whose message says how to place the file by hand.

:func:`extract` unpacks ``.zip`` / ``.tar.gz`` archives into a temporary directory beside the
target and renames it into place, after rejecting members that would escape the target
(absolute paths, ``..``) or that are links or devices.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from vaeinfer.results.io import atomic_path

__all__ = [
    "ChecksumError",
    "DownloadError",
    "RemoteFile",
    "extract",
    "fetch",
    "file_checksum",
    "manual_instructions",
    "require_file",
    "verify_file",
]

_CHUNK = 1 << 20
_ALGORITHMS = {"md5": 32, "sha256": 64}


class DownloadError(OSError):
    """A download failed (network unreachable, HTTP error, timeout, truncated transfer)."""


class ChecksumError(OSError):
    """A file's checksum differs from the expected one."""


class RemoteFile(NamedTuple):
    """A raw input file.

    Attributes:
        filename: name of the file in its raw directory.
        url: where to download it from.
        checksum: ``"md5:<32 hex>"`` or ``"sha256:<64 hex>"``.
        size_hint: approximate size in bytes (progress bar when the server sends no length), or None.
    """

    filename: str
    url: str
    checksum: str
    size_hint: int | None = None

    @property
    def algorithm(self) -> str:
        return _parse_checksum(self.checksum)[0]

    @property
    def digest(self) -> str:
        return _parse_checksum(self.checksum)[1]


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, digest = checksum.partition(":")
    digest = digest.lower()
    length = _ALGORITHMS.get(algorithm)
    if length is None or not re.fullmatch(f"[0-9a-f]{{{length}}}", digest):
        raise ValueError(
            f"invalid checksum {checksum!r}: expected 'md5:<32 hex digits>' or 'sha256:<64 hex digits>'"
        )
    return algorithm, digest


def file_checksum(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of the file at ``path`` (``algorithm`` is ``"md5"`` or ``"sha256"``)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def manual_instructions(remote: RemoteFile, path: str | os.PathLike[str]) -> str:
    """How to place ``remote`` at ``path`` by hand."""
    return (
        f"download {remote.url} on a machine with internet and copy it to {path}; "
        f"its {remote.algorithm} must be {remote.digest}"
    )


def verify_file(remote: RemoteFile, path: str | os.PathLike[str]) -> Path:
    """Check that the file at ``path`` has ``remote``'s checksum; raise :class:`ChecksumError` if not."""
    path = Path(path)
    actual = file_checksum(path, remote.algorithm)
    if actual != remote.digest:
        raise ChecksumError(
            f"{path} has {remote.algorithm} {actual}, expected {remote.digest}: the file is corrupt, "
            f"truncated or a different version. Delete it and download it again, or "
            f"{manual_instructions(remote, path)}"
        )
    return path


def require_file(remote: RemoteFile, directory: str | os.PathLike[str], *, how: str = "") -> Path:
    """The path of ``remote`` in ``directory``; :class:`FileNotFoundError` with instructions if absent.

    ``how`` names the command or workflow rule that downloads it (added to the message).
    """
    path = Path(directory) / remote.filename
    if not path.is_file():
        hint = f"Download it with {how}, or " if how else "To fix, "
        raise FileNotFoundError(f"raw input {path} is missing. {hint}{manual_instructions(remote, path)}.")
    return path


def _stream(remote: RemoteFile, tmp: Path, *, timeout: float, progress: bool) -> str:
    """Write ``remote.url`` to ``tmp``; the hex digest of what was written."""
    from tqdm.auto import tqdm

    hasher = hashlib.new(remote.algorithm)
    with urllib.request.urlopen(remote.url, timeout=timeout) as response, open(tmp, "wb") as out:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(
            total=expected or remote.size_hint, unit="B", unit_scale=True, unit_divisor=1024,
            desc=remote.filename, disable=not progress, leave=False,
        ) as bar:  # fmt: skip
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise http.client.IncompleteRead(b"", expected - received)
    return hasher.hexdigest()


def fetch(
    remote: RemoteFile, directory: str | os.PathLike[str], *, timeout: float = 60, progress: bool = True
) -> Path:
    """Download ``remote`` into ``directory`` (unless already there) and verify its checksum.

    * An existing file with the right checksum is returned without any network access.
    * An existing file with a wrong checksum raises :class:`ChecksumError` (delete it and retry).
    * Otherwise the URL is streamed into a temporary file in ``directory`` (tqdm progress bar),
      hashed on the fly, and renamed onto ``directory / remote.filename`` only if the checksum
      matches (:class:`ChecksumError` otherwise).
    * Any network failure (unreachable host, HTTP error, timeout, truncated transfer) raises
      :class:`DownloadError` immediately, without retrying; its message says how to place the file
      by hand. No partial file is ever left behind, whatever the failure (also on Ctrl-C).
    """
    algorithm, digest = _parse_checksum(remote.checksum)
    directory = Path(directory)
    path = directory / remote.filename
    if path.exists():
        return verify_file(remote, path)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        try:
            actual = _stream(remote, tmp, timeout=timeout, progress=progress)
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ValueError) as err:
            reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", None) or err
            raise DownloadError(
                f"could not download {remote.filename} from {remote.url}: {type(err).__name__}: {reason}. "
                f"No partial file was kept. If this machine is offline, {manual_instructions(remote, path)}."
            ) from err
        if actual != digest:
            raise ChecksumError(
                f"downloaded {remote.filename} from {remote.url} has {algorithm} {actual}, expected {digest}; "
                f"the file was discarded. The server may serve a different version: check the URL, or "
                f"{manual_instructions(remote, path)}."
            )
    return path


# --- extraction -------------------------------------------------------------------------------------


def _check_member(name: str, archive: Path) -> PurePosixPath:
    """The member's relative path; ValueError for absolute paths or ``..`` components."""
    unified = name.replace("\\", "/")
    rel = PurePosixPath(unified)
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified) or rel.is_absolute():
        raise ValueError(f"unsafe member {name!r} in {archive}: absolute path; refusing to extract the archive")
    if ".." in rel.parts:
        raise ValueError(f"unsafe member {name!r} in {archive}: '..' in its path; refusing to extract the archive")
    return rel


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar"
    raise ValueError(f"cannot extract {archive}: only .zip and .tar.gz archives are supported")


def _copy_out(source: IO[bytes], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _extract_zip(archive: Path, tmp: Path, keep: Callable[[str], bool]) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = [(info, _check_member(info.filename, archive)) for info in zf.infolist()]
        for info, rel in infos:
            if not keep(str(rel)) or not rel.parts:
                continue
            if info.is_dir():
                (tmp / rel).mkdir(parents=True, exist_ok=True)
            else:
                _copy_out(zf.open(info), tmp / rel)


def _extract_tar(archive: Path, tmp: Path, keep: Callable[[str], bool]) -> None:
    with tarfile.open(archive, "r:gz") as tf:
        members = [(m, _check_member(m.name, archive)) for m in tf.getmembers()]
        for m, _ in members:
            if not (m.isfile() or m.isdir()):
                raise ValueError(
                    f"unsafe member {m.name!r} in {archive}: links and special files are not extracted; "
                    "refusing to extract the archive"
                )
        for m, rel in members:
            if not keep(str(rel)) or not rel.parts:
                continue
            if m.isdir():
                (tmp / rel).mkdir(parents=True, exist_ok=True)
            else:
                source = tf.extractfile(m)
                assert source is not None  # regular file
                _copy_out(source, tmp / rel)


def extract(
    archive: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    members: Callable[[str], bool] | None = None,
) -> Path:
    """Extract a ``.zip`` or ``.tar.gz`` ``archive`` so that its members appear under ``directory``.

    Atomic: members go to a temporary directory beside ``directory``, which is renamed onto it only
    when everything was written; on any failure the temporary directory is removed. Because of
    this, an existing ``directory`` is taken as a finished extraction and returned untouched.

    Safe: every member is checked before anything is written; an absolute path, a ``..``
    component, or (in tar files) a link or device raises :class:`ValueError` and nothing is
    extracted. ``members`` optionally selects members by their relative path (e.g.
    ``lambda name: name.startswith("data/gas/")``).
    """
    archive = Path(archive)
    directory = Path(directory)
    kind = _archive_kind(archive)
    if directory.exists():
        return directory
    if not archive.is_file():
        raise FileNotFoundError(f"cannot extract {archive}: no such file")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".extracting", dir=directory.parent))
    keep = members or (lambda name: True)
    try:
        try:
            if kind == "zip":
                _extract_zip(archive, tmp, keep)
            else:
                _extract_tar(archive, tmp, keep)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            raise ValueError(
                f"{archive} is not a readable {kind} archive ({err}); delete it and download it again"
            ) from err
        try:
            os.rename(tmp, directory)
        except OSError:
            if not directory.exists():  # someone else finished first otherwise
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory
