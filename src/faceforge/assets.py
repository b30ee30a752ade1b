"""Model assets: where they live, how they are installed, verified and loaded.

ICT-FaceKit Light (MIT) is never shipped inside faceforge. ``install_ict_facekit`` takes the upstream files from a
local archive or folder, or downloads them from the upstream repository at a pinned commit, verifies every file by
SHA-256 against ``data/ict_facekit_manifest.json``, converts them into one uncompressed ``model.npz`` and writes it
atomically (temporary directory, then rename) into the cache:

``$FACEFORGE_CACHE_DIR`` if set, else the XDG user cache directory (``~/.cache/faceforge`` on Linux).

Nothing else in faceforge touches the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import platformdirs

from faceforge.errors import AssetError, UsageError
from faceforge.morphable.ict import NEUTRAL_FILE, convert_facexmodel, model_from_arrays
from faceforge.morphable.model import MorphableModel

log = logging.getLogger(__name__)

ICT_NAME = "ict-facekit"
CACHE_FORMAT = 1  # bump when the converted arrays change meaning
_CACHE_FILE = "model.npz"
_INFO_FILE = "info.json"
_RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def cache_root() -> Path:
    """Directory holding all converted assets (``$FACEFORGE_CACHE_DIR`` or the XDG user cache dir)."""
    env = os.environ.get("FACEFORGE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("faceforge"))


@lru_cache(maxsize=1)
def ict_manifest() -> dict:
    """The project's manifest of the upstream ICT-FaceKit files (paths, sizes, SHA-256, pinned commit)."""
    text = resources.files("faceforge").joinpath("data/ict_facekit_manifest.json").read_text()
    return json.loads(text)


def ict_cache_dir() -> Path:
    """Directory of the converted ICT-FaceKit cache for the pinned upstream commit."""
    return cache_root() / f"{ICT_NAME}-{ict_manifest()['commit'][:10]}-v{CACHE_FORMAT}"


@dataclass(frozen=True)
class AssetStatus:
    """What is installed for one asset."""

    name: str
    installed: bool
    path: Path
    size_bytes: int
    source: str
    installed_at: str


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _required_files() -> list[str]:
    """Every manifest path (the whole upstream ``FaceXModel/`` folder and ``LICENSE``)."""
    return sorted(ict_manifest()["files"])


def _verify_tree(root: Path) -> None:
    """Check every required file under ``root`` (holding ``FaceXModel/`` and ``LICENSE``) against the manifest."""
    files = ict_manifest()["files"]
    for rel in _required_files():
        p = root / rel
        if not p.is_file():
            raise AssetError(f"ICT-FaceKit source is incomplete: {rel} is missing")
        want = files[rel]
        if p.stat().st_size != want["size"] or sha256_file(p) != want["sha256"]:
            raise AssetError(
                f"ICT-FaceKit file {rel} does not match the manifest (size {p.stat().st_size}, expected "
                f"{want['size']}): the source is corrupt, truncated or a different version"
            )


def _extract_archive(archive: Path, dest: Path) -> None:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(dest)
        else:
            with tarfile.open(archive) as t:
                t.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise AssetError(f"{archive}: cannot unpack the archive ({exc}); it is corrupt or truncated") from None


def _find_root(folder: Path) -> Path:
    """The directory that holds ``FaceXModel/`` (accepts the FaceXModel folder itself or its parent)."""
    for cand in (folder, folder.parent, *[d for d in folder.iterdir() if d.is_dir()]):
        if (cand / "FaceXModel" / NEUTRAL_FILE).is_file():
            return cand
    raise AssetError(f"{folder}: no FaceXModel/{NEUTRAL_FILE} found (expected the upstream FaceXModel folder)")


def _download(dest: Path) -> None:
    man = ict_manifest()
    for rel in _required_files():
        url = _RAW_URL.format(repo=man["repository"], commit=man["commit"], path=rel)
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(out, "wb") as f:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise AssetError(
                f"cannot download ICT-FaceKit ({exc}); offline? Get the ICT-FaceKit repository at commit "
                f"{man['commit'][:10]} elsewhere and run: faceforge assets install ict-facekit --from PATH"
            ) from None


def install_ict_facekit(source: Path | None = None, force: bool = False) -> AssetStatus:
    """Install ICT-FaceKit Light into the cache.

    Args:
        source: the upstream archive (``.tar.xz``/``.tar.gz``/``.zip``) or the ``FaceXModel/`` folder (or its
            parent); None downloads the pinned upstream files.
        force: reinstall even when a valid cache exists.
    Returns:
        the status of the installed asset.
    Raises:
        AssetError: missing/corrupt/mismatching source, or no network without a source. The previous cache, if any,
            is left untouched on failure.
    """
    final = ict_cache_dir()
    if not force and ict_status().installed:
        log.info("ICT-FaceKit already installed at %s", final)
        return ict_status()
    if source is not None and not Path(source).exists():
        raise AssetError(f"{source}: no such file or directory")
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".install-", dir=final.parent) as tmp:
        work = Path(tmp)
        if source is None:
            _download(work / "src")
            root = work / "src"
            label = f"github:{ict_manifest()['repository']}@{ict_manifest()['commit'][:10]}"
        elif Path(source).is_dir():
            root = _find_root(Path(source))
            label = str(Path(source).resolve())
        else:
            src = Path(source)
            if src.suffix in {".xz", ".gz", ".bz2", ".tar", ".zip", ".tgz"}:
                man_sha = ict_manifest()["archive_sha256"]
                if sha256_file(src) != man_sha:
                    log.info("archive checksum differs from the reference archive; verifying its files one by one")
            _extract_archive(src, work / "src")
            root = _find_root(work / "src")
            label = str(src.resolve())
        _verify_tree(root)
        t0 = time.perf_counter()
        arrays = convert_facexmodel(root / "FaceXModel")
        staged = work / "cache"
        staged.mkdir()
        np.savez(staged / _CACHE_FILE, **arrays)
        shutil.copy(root / "LICENSE", staged / "LICENSE")
        info = {
            "name": ICT_NAME,
            "commit": ict_manifest()["commit"],
            "cache_format": CACHE_FORMAT,
            "source": label,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model_sha256": sha256_file(staged / _CACHE_FILE),
        }
        (staged / _INFO_FILE).write_text(json.dumps(info, indent=1))
        log.info("converted ICT-FaceKit in %.1f s", time.perf_counter() - t0)
        if final.exists():
            old = final.with_name(final.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(staged, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staged, final)
    _load_ict_cached.cache_clear()
    return ict_status()


def ict_status() -> AssetStatus:
    """Whether the ICT-FaceKit cache exists and is complete (does not re-hash the model file)."""
    d = ict_cache_dir()
    info_path, npz = d / _INFO_FILE, d / _CACHE_FILE
    if not (info_path.is_file() and npz.is_file()):
        return AssetStatus(ICT_NAME, False, d, 0, "", "")
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError):
        return AssetStatus(ICT_NAME, False, d, 0, "", "")
    return AssetStatus(ICT_NAME, True, d, npz.stat().st_size, info.get("source", ""), info.get("installed_at", ""))


def _not_installed() -> AssetError:
    return AssetError(
        "the ICT-FaceKit model is not installed; run: faceforge assets install ict-facekit "
        "[--from ICT-FaceKit.tar.xz|FaceXModel/]"
    )


@lru_cache(maxsize=1)
def _load_ict_cached() -> MorphableModel:
    st = ict_status()
    if not st.installed:
        raise _not_installed()
    try:
        with np.load(st.path / _CACHE_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise AssetError(f"the ICT-FaceKit cache at {st.path} is damaged ({exc}); reinstall with --force") from None
    return model_from_arrays(arrays)


def load_model(
    name: str = ICT_NAME, path: Path | None = None, landmark_embedding: Path | None = None
) -> MorphableModel:
    """Load a morphable model.

    Args:
        name: ``"ict-facekit"`` (from the asset cache) or ``"flame"`` (a user-supplied FLAME ``.pkl`` at ``path``).
        path: model file for ``"flame"``.
        landmark_embedding: optional FLAME landmark embedding (e.g. DECA's ``landmark_embedding.npy``) giving the
            68 iBUG landmarks; without it a FLAME model has none.
    Returns:
        the MorphableModel (ICT-FaceKit is loaded once per process and shared).
    """
    if name == ICT_NAME:
        if landmark_embedding is not None:
            raise UsageError("landmark_embedding is only for flame; ICT-FaceKit has its own landmarks")
        return _load_ict_cached()
    if name == "flame":
        if path is None:
            raise UsageError("loading FLAME needs the path of your licensed FLAME .pkl file")
        from faceforge.morphable.flame import load_flame

        return load_flame(Path(path), None if landmark_embedding is None else Path(landmark_embedding))
    raise UsageError(f"unknown model {name!r}; choose ict-facekit or flame")
