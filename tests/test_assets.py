import json
import urllib.error
import urllib.request

import pytest
from conftest import ICT_ARCHIVE

from faceforge import assets
from faceforge.cli import main
from faceforge.errors import AssetError


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFORGE_CACHE_DIR", str(tmp_path / "cache"))
    assets._load_ict_cached.cache_clear()
    yield tmp_path / "cache"
    assets._load_ict_cached.cache_clear()


def test_manifest_lists_every_upstream_file() -> None:
    man = assets.ict_manifest()
    assert man["commit"] == "da5f95a607f5e6b37755b38d3385d7f2853732e5"
    files = man["files"]
    assert len(files) == 161 and "LICENSE" in files and "FaceXModel/generic_neutral_mesh.obj" in files
    assert sum(p.startswith("FaceXModel/identity") for p in files) == 100
    assert all(len(f["sha256"]) == 64 for f in files.values())


def test_not_installed_gives_one_clear_error(empty_cache, capsys) -> None:
    assert not assets.ict_status().installed
    with pytest.raises(AssetError, match="not installed; run: faceforge assets install ict-facekit"):
        assets.load_model()
    assert main(["model", "info"]) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("faceforge: error: the ICT-FaceKit model is not installed")


def test_offline_download_is_refused_clearly(empty_cache, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(AssetError, match=r"cannot download ICT-FaceKit .*offline\? .*--from PATH"):
        assets.install_ict_facekit()
    assert not assets.ict_status().installed
    assert not any(p.name.startswith("ict-facekit") for p in empty_cache.iterdir())


def test_truncated_archive_is_refused_and_leaves_no_cache(empty_cache, tmp_path) -> None:
    if not ICT_ARCHIVE.is_file():
        pytest.skip("../shared archive not present")
    bad = tmp_path / "truncated.tar.xz"
    with open(ICT_ARCHIVE, "rb") as f:
        bad.write_bytes(f.read(2_000_000))
    with pytest.raises(AssetError, match="corrupt or truncated"):
        assets.install_ict_facekit(bad)
    assert not assets.ict_status().installed
    assert [p for p in empty_cache.iterdir()] == []  # no half-written cache or temp dir left


def test_tampered_folder_is_refused(empty_cache, tmp_path) -> None:
    folder = tmp_path / "FaceXModel"
    folder.mkdir()
    (folder / "generic_neutral_mesh.obj").write_text("v 0 0 0\nf 1 1 1\n")
    with pytest.raises(AssetError, match="missing|does not match the manifest"):
        assets.install_ict_facekit(folder)
    assert not assets.ict_status().installed


def test_missing_source_path(empty_cache, tmp_path) -> None:
    with pytest.raises(AssetError, match="no such file or directory"):
        assets.install_ict_facekit(tmp_path / "nope.tar.xz")
    assert main(["assets", "install", "ict-facekit", "--from", str(tmp_path / "nope.tar.xz")]) == 5


@pytest.mark.slow
def test_install_from_archive_then_load(empty_cache, capsys) -> None:
    if not ICT_ARCHIVE.is_file():
        pytest.skip("../shared archive not present")
    assert main(["assets", "install", "ict-facekit", "--from", str(ICT_ARCHIVE)]) == 0
    st = assets.ict_status()
    assert st.installed and st.path.parent == empty_cache
    capsys.readouterr()
    assert main(["assets", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["installed"] is True and status["source"].endswith("ict-facekit-light-facexmodel.tar.xz")
    assert main(["model", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["vertices"], info["identity_components"], info["expression_components"]) == (26719, 100, 53)
    assert info["expression_names"][:2] == ["browDown_L", "browDown_R"]
    # The cache holds the upstream license beside the converted model.
    assert (st.path / "LICENSE").read_text().startswith("MIT License")
