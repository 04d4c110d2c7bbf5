"""Model files on disk: bundled package files assembled into the data directory, verified.

Packages that carry weights are data: they are located with ``importlib.metadata`` and never
imported. A bundled file is the concatenation of one or more package files; it is written to
``<models_dir>/<variant>/<name>`` through a temporary file, checked against its pinned sha256
and renamed into place, so a reader never sees half a file. A single-part file is hard-linked
where the filesystem allows it (no second copy of the weights).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path

from domain.catalog import ModelFile, ModelVariant, PackagePart

CHUNK = 1024 * 1024
VERIFIED_SUFFIX = ".verified"


class ModelFileError(Exception):
    """A model's files are missing or do not match their checksum."""


_distributions: dict[str, importlib.metadata.Distribution] = {}


def _distribution(package: str) -> importlib.metadata.Distribution:
    """The installed distribution, found once per process (finding it scans ``sys.path``); the
    callers still check that its files exist."""
    found = _distributions.get(package)
    if found is None:
        found = _distributions[package] = importlib.metadata.distribution(package)
    return found


def locate(part: PackagePart) -> Path:
    try:
        distribution = _distribution(part.package)
    except importlib.metadata.PackageNotFoundError as error:
        raise ModelFileError(
            f"package {part.package} is not installed (run ./scripts/setup to install the bundled models)"
        ) from error
    path = Path(str(distribution.locate_file(part.path)))
    if not path.is_file():
        raise ModelFileError(f"{part.path} is missing from the installed package {part.package}")
    return path


def locate_any(part: PackagePart) -> Path:
    """A file or a directory inside an installed distribution."""
    try:
        distribution = _distribution(part.package)
    except importlib.metadata.PackageNotFoundError as error:
        raise ModelFileError(f"package {part.package} is not installed (run ./scripts/setup)") from error
    path = Path(str(distribution.locate_file(part.path)))
    if not path.exists():
        raise ModelFileError(f"{part.path} is missing from the installed package {part.package}")
    return path


_verified_in_place: dict[tuple[str, int, int], str] = {}


def verify_in_place(path: Path, expected: str | None) -> None:
    """Verify a package file where it lies (never writing into site-packages), once per process."""
    if expected is None:
        return
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _verified_in_place.get(key) == expected:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(f"{path.name}: sha256 {actual} does not match the pinned {expected}")
    _verified_in_place[key] = actual


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + VERIFIED_SUFFIX)


def _is_verified(path: Path, expected: str | None) -> bool:
    """The file exists and was verified before, and has not changed since."""
    if not path.is_file():
        return False
    if expected is None:
        return True
    try:
        record = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        return False
    stat = path.stat()
    return bool(
        record.get("sha256") == expected
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def record_verified(path: Path, sha256: str) -> None:
    stat = path.stat()
    _marker(path).write_text(
        json.dumps({"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    )


def verify(path: Path, expected: str | None) -> None:
    """Check a file against its pin (once: a marker remembers a verified file)."""
    if expected is None or _is_verified(path, expected):
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(f"{path.name}: sha256 {actual} does not match the pinned {expected}")
    record_verified(path, actual)


def _assemble(file: ModelFile, destination: Path) -> None:
    sources = [locate(part) for part in file.parts]
    destination.parent.mkdir(parents=True, exist_ok=True)
    if len(sources) == 1:
        temporary = destination.with_name(f".{destination.name}.{os.getpid()}.link")
        try:
            os.link(sources[0], temporary)
        except OSError:
            pass  # another filesystem: fall through to a verified copy
        else:
            actual = sha256_of(temporary) if file.sha256 else None
            if actual != file.sha256:
                temporary.unlink()
                raise ModelFileError(
                    f"{destination.name}: sha256 {actual} does not match the pinned {file.sha256}"
                )
            os.replace(temporary, destination)
            if file.sha256:
                record_verified(destination, file.sha256)
            return
    digest = hashlib.sha256()
    handle, temporary_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o644)
        actual = digest.hexdigest()
        if file.sha256 is not None and actual != file.sha256:
            raise ModelFileError(
                f"{destination.name} assembled from {len(sources)} part(s) has sha256 {actual}, "
                f"not the pinned {file.sha256}"
            )
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if file.sha256 is not None:
        record_verified(destination, actual)


class ModelFiles:
    """Where each variant's files live, and getting them there."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        # Installed packages do not change under a running process: a bundle found once is
        # not looked for again on every request that names it.
        self._bundles_found: set[str] = set()

    def directory(self, variant: ModelVariant) -> Path:
        return self.models_dir / variant.id

    def load_path(self, variant: ModelVariant) -> Path:
        if variant.local_path is not None:
            return Path(variant.local_path).expanduser()
        if variant.in_package is not None:
            try:
                return locate_any(variant.in_package)
            except ModelFileError:
                return self.directory(variant)
        directory = self.directory(variant)
        if variant.load_target == "file" and variant.files:
            return directory / variant.files[0].name
        return directory

    def is_present(self, variant: ModelVariant) -> bool:
        if variant.local_path is not None:
            return self.load_path(variant).exists()
        if variant.in_package is not None:
            return self.bundle_available(variant)
        directory = self.directory(variant)
        return bool(variant.files) and all((directory / f.name).is_file() for f in variant.files)

    def bundle_available(self, variant: ModelVariant) -> bool:
        """Every package part of a bundled variant is installed."""
        if variant.id in self._bundles_found:
            return True
        try:
            if variant.in_package is not None:
                locate_any(variant.in_package)
            for file in variant.files:
                for part in file.parts:
                    locate(part)
        except ModelFileError:
            return False
        if variant.source != "bundled":
            return False
        self._bundles_found.add(variant.id)
        return True

    def materialize(self, variant: ModelVariant) -> Path:
        """Make a bundled variant's files present and verified; return what the engine loads."""
        if variant.in_package is not None:
            for file in variant.files:
                for part in file.parts:
                    verify_in_place(locate(part), file.sha256)
            return locate_any(variant.in_package)
        directory = self.directory(variant)
        for file in variant.files:
            target = directory / file.name
            if _is_verified(target, file.sha256) or (file.sha256 is None and target.is_file()):
                continue
            if not file.parts:
                raise ModelFileError(f"{variant.id} is not downloaded: {file.name} is missing")
            _assemble(file, target)
        return self.load_path(variant)

    def delete(self, variant: ModelVariant) -> int:
        """Remove what Sauti itself wrote for a variant; never a user's own local model."""
        directory = self.directory(variant)
        if not directory.exists():
            return 0
        freed = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        shutil.rmtree(directory)
        return freed
