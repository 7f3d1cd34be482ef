"""Download files, check their checksums, unpack archives safely, and move the result into place.

A download either completes — every checksum right, every archive member inside the target
folder — or leaves nothing behind: all work happens in a temporary folder next to the target,
renamed into place at the end (a rename within one file system is atomic). A download killed
with `kill -9` cannot clean up: its `.<name>.partial-<pid>` folder is removed by the next download
into the same folder, once that pid is no longer running.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..checkpoint import pid_alive

Fetch = Callable[[str, Path], None]  # (url, destination file) -> None


@dataclass(frozen=True)
class Resource:
    """One file to download: where from, its sha256 (and md5, as published), whether to unpack it."""
    url: str
    sha256: str
    md5: str | None = None
    extract: bool = False

    @property
    def filename(self) -> str:
        return PurePosixPath(self.url.split("?")[0]).name


def cache_dir() -> Path:
    """minifast's user cache: `$XDG_CACHE_HOME/minifast`, else `~/.cache/minifast`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minifast"


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in 1 MiB chunks (big files never sit in memory)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_url(url: str, dest: Path) -> None:
    """Copy `url` (https://, http://, file://) to the file `dest`."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)


def check_member(name: str, archive: Path, link: str | None = None) -> None:
    """Refuse an archive member that would land outside the target folder."""
    for what, p in (("member", name), ("link target of", link)):
        if p is None:
            continue
        parts = PurePosixPath(p.replace("\\", "/")).parts
        if p.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
            raise ValueError(f"{archive.name}: refusing to extract {what} {name!r}: "
                             f"absolute paths and '..' could write outside the target folder")


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip into `dest`, after checking every member's path."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                check_member(name, archive)
            z.extractall(dest)
        return
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            check_member(m.name, archive, m.linkname if (m.issym() or m.islnk()) else None)
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise ValueError(f"{archive.name}: refusing to extract special file {m.name!r}")
        tar.extractall(dest, members=members, filter="data")  # the stdlib's own checks, too


def verify(path: Path, res: Resource) -> None:
    """Raise if `path` does not have `res`'s checksum(s)."""
    got = file_hash(path, "sha256")
    if got != res.sha256:
        raise ValueError(f"checksum mismatch for {res.url}: sha256 {got}, expected {res.sha256}. "
                         "The download is corrupt or the file changed upstream; nothing was kept.")
    if res.md5 is not None and file_hash(path, "md5") != res.md5:
        raise ValueError(f"checksum mismatch for {res.url}: md5 differs from {res.md5}")


def download(resources: Sequence[Resource], dest: Path, fetch: Fetch | None = None) -> Path:
    """Fetch `resources` into the new folder `dest`: checked, unpacked, then renamed into place.

    `fetch(url, file)` does the transfer (default `fetch_url`); tests pass a local one.
    """
    fetch = fetch or fetch_url
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(dest.parent)
    tmp = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for res in resources:
            target = tmp / res.filename
            fetch(res.url, target)
            verify(target, res)
            if res.extract:
                safe_extract(target, tmp)
                target.unlink()
        write_manifest(tmp)
        os.replace(tmp, dest)  # atomic: `dest` is either absent or complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the `.<name>.partial-<pid>` folders in `folder` whose process has died.

    A running download (this process or another) keeps its folder. A pid reused by an unrelated
    process keeps a stale folder a while longer: safe, only disk space.
    """
    removed = []
    for tmp in folder.glob(".*.partial-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if tmp.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def write_manifest(folder: Path) -> None:
    """Record every file's sha256 in `folder/MANIFEST.sha256` (sha256sum format), for `verify=True`."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    lines = [f"{file_hash(p)}  {p.relative_to(folder).as_posix()}\n" for p in files]
    (folder / "MANIFEST.sha256").write_text("".join(lines))
