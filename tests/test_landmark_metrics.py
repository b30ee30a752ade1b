import numpy as np
import pytest
from conftest import DEV_DATA

from faceforge.datasets.pts import read_pts, write_pts
from faceforge.errors import InputError, UsageError
from faceforge.metrics.landmarks import nme, nme_by_group, normalizer


def _face() -> np.ndarray:
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, (68, 2))
    pts[36], pts[45] = (20.0, 40.0), (80.0, 40.0)  # outer eye corners 60 px apart
    return pts


def test_nme_exact_values() -> None:
    gt = _face()
    assert nme(gt, gt) == 0.0
    shifted = gt + np.array([3.0, 4.0])  # every point off by 5 px
    assert nme(shifted, gt) == pytest.approx(5.0 / 60.0)
    w, h = np.ptp(gt, axis=0)
    assert nme(shifted, gt, "bbox") == pytest.approx(5.0 / np.sqrt(w * h))
    groups = nme_by_group(shifted, gt)
    assert set(groups) == {"jaw", "brows", "nose", "eyes", "mouth"}
    assert all(v == pytest.approx(5.0 / 60.0) for v in groups.values())


def test_nme_refuses_bad_input() -> None:
    with pytest.raises(UsageError, match=r"expected \(68, 2\)"):
        normalizer(np.zeros((5, 2)))
    with pytest.raises(UsageError, match="differ"):
        nme(np.zeros((68, 2)), np.zeros((67, 2)))
    with pytest.raises(UsageError, match="unknown NME normalization"):
        nme(_face(), _face(), "foo")  # type: ignore[arg-type]


def test_pts_round_trip_is_one_based_on_disk(tmp_path) -> None:
    pts = _face()
    write_pts(tmp_path / "a.pts", pts)
    text = (tmp_path / "a.pts").read_text()
    assert text.startswith("version: 1\nn_points: 68\n{\n") and f"{pts[0, 0] + 1:.3f}" in text
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), pts, atol=1e-3)


def test_pts_errors(tmp_path) -> None:
    (tmp_path / "bad.pts").write_text("version: 1\nn_points: 3\n{\n1 2\n}\n")
    with pytest.raises(InputError, match="header says 3 points, found 1"):
        read_pts(tmp_path / "bad.pts")
    with pytest.raises(InputError, match="cannot read"):
        read_pts(tmp_path / "missing.pts")


def test_reads_the_dev_annotations() -> None:
    files = sorted((DEV_DATA / "300w-afw" / "images").glob("*.pts"))
    if not files:
        pytest.skip("dev data not present")
    assert len(files) == 85
    pts = read_pts(files[0])
    assert pts.shape == (68, 2) and (pts >= -1).all()
