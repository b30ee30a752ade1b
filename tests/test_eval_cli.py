"""``faceforge eval landmarks | synthetic | mesh``: exit codes, one-line errors, JSON and PNG outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_metrics_alignment import bumpy_grid

from faceforge.cli import main
from faceforge.io.image import read_image
from faceforge.io.mesh import save_obj, save_ply


def _mesh_files(
    tmp_path: Path, offset: tuple[float, float, float] = (0.0, 0.0, 0.0), flat: bool = False
) -> tuple[Path, Path]:
    v, f = bumpy_grid(20)
    v[:, 2] *= 0.0 if flat else 1.0
    save_obj(tmp_path / "gt.obj", v.astype(np.float32), f)
    save_ply(tmp_path / "rec.ply", (v + np.array(offset)).astype(np.float32), f)
    return tmp_path / "gt.obj", tmp_path / "rec.ply"


def test_eval_mesh_identical_and_offset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, rec = _mesh_files(tmp_path, (0.0, 0.0, 0.1), flat=True)
    assert main(["eval", "mesh", "--gt", str(gt), "--reconstruction", str(rec), "--alignment", "none",
                 "--json", str(tmp_path / "e.json")]) == 0
    out = json.loads((tmp_path / "e.json").read_text())
    assert out["chamfer_mm"] == pytest.approx(1.0, abs=1e-5) and out["completeness"] == 1.0
    assert out["command"].startswith("faceforge eval mesh --alignment none")
    assert "CD mm" in capsys.readouterr().out
    # With landmarks (bumpy meshes: the alignment is determined), a 1 mm offset is aligned away.
    gt, rec = _mesh_files(tmp_path, (0.0, 0.0, 0.1))
    np.savetxt(tmp_path / "lg.txt", bumpy_grid(20)[0][::37])
    np.savetxt(tmp_path / "lr.txt", bumpy_grid(20)[0][::37] + [0.0, 0.0, 0.1])
    assert main(["eval", "mesh", "--gt", str(gt), "--reconstruction", str(rec), "--gt-landmarks",
                 str(tmp_path / "lg.txt"), "--recon-landmarks", str(tmp_path / "lr.txt"), "--json",
                 str(tmp_path / "e2.json")]) == 0
    assert json.loads((tmp_path / "e2.json").read_text())["chamfer_mm"] < 1e-6


def test_eval_errors_are_one_line_with_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, rec = _mesh_files(tmp_path)
    assert main(["eval", "mesh", "--gt", str(gt), "--reconstruction", str(rec), "--gt-landmarks", "x.txt"]) == 2
    err = capsys.readouterr().err
    assert "--gt-landmarks and --recon-landmarks go together" in err and err.count("\n") == 1
    assert main(["eval", "mesh", "--gt", str(tmp_path / "missing.obj"), "--reconstruction", str(rec)]) == 3
    assert "no such file" in capsys.readouterr().err
    assert main(["eval", "mesh", "--gt", str(gt), "--reconstruction", str(rec), "--json",
                 str(tmp_path / "nofolder" / "e.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["eval", "landmarks", "--images", str(tmp_path / "empty")]) == 3
    assert "no NAME.pts (or NAME.mat) with a NAME.jpg" in capsys.readouterr().err
    assert main(["eval", "landmarks", "--images", str(tmp_path), "--plot", str(tmp_path / "c.jpg")]) == 2
    assert "expected a .png path" in capsys.readouterr().err
    assert main(["eval", "synthetic", "--count", "0"]) == 2
    assert "count must be >= 1" in capsys.readouterr().err
    assert main(["eval", "nothing"]) == 2


@pytest.mark.ict
def test_eval_synthetic_exact_fit_is_near_zero(ict_model, tmp_path: Path) -> None:
    assert main(["eval", "synthetic", "--count", "1", "--method", "gt-landmarks-exact", "--json",
                 str(tmp_path / "s.json"), "--plot", str(tmp_path / "cd.png"), "--heatmap",
                 str(tmp_path / "heat.png")]) == 0
    out = json.loads((tmp_path / "s.json").read_text())
    s = out["summary"]["gt-landmarks-exact"]
    assert s["found"] == 1 and s["cd_face_mm"] < 0.2 and s["cr_face"] > 0.99 and s["nme_mean"] < 0.005
    assert out["synthetic_version"] == 1 and out["faces"][0]["index"] == 0
    assert read_image(tmp_path / "cd.png").shape == (480, 720, 3)
    assert read_image(tmp_path / "heat.png").shape[1] == 1024


@pytest.mark.ict
def test_eval_landmarks_on_rendered_faces(ict_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faceforge.datasets.pts import write_pts
    from faceforge.datasets.synthetic import SyntheticFaces, SyntheticOptions
    from faceforge.io.image import write_image

    faces = SyntheticFaces(ict_model, SyntheticOptions(image_size=320))
    for i in (1, 3):
        s = faces.sample(i)
        write_image(tmp_path / f"face_{i}.png", s.image)
        write_pts(tmp_path / f"face_{i}.pts", s.landmarks_68_px)
    assert main(["eval", "landmarks", "--images", str(tmp_path), "--method", "faceforge", "detector", "--json",
                 str(tmp_path / "l.json"), "--plot", str(tmp_path / "ced.png")]) == 0
    out = json.loads((tmp_path / "l.json").read_text())
    assert [r["name"] for r in out["records"]] == ["face_1", "face_1", "face_3", "face_3"]
    assert all(r["detected"] for r in out["records"])
    assert out["summary"]["faceforge"]["nme_mean_pct"] < 10.0
    assert "faceforge" in capsys.readouterr().out
    assert read_image(tmp_path / "ced.png").shape == (480, 720, 3)
    # The same face as an AFLW2000-3D style annotation (NAME.jpg + NAME.mat with pt3d_68).
    import scipy.io

    aflw = tmp_path / "aflw"
    aflw.mkdir()
    s = faces.sample(3)
    write_image(aflw / "image00003.jpg", s.image)
    scipy.io.savemat(str(aflw / "image00003.mat"), {
        "pt3d_68": np.r_[s.landmarks_68_px.T, np.zeros((1, 68))], "Pose_Para": np.zeros((1, 7))})
    assert main(["eval", "landmarks", "--images", str(aflw), "--json", str(tmp_path / "a.json")]) == 0
    rec = json.loads((tmp_path / "a.json").read_text())["records"]
    assert len(rec) == 1 and rec[0]["detected"]
    assert rec[0]["nme_inter_ocular"] == pytest.approx(out["records"][2]["nme_inter_ocular"], abs=0.01)


def test_mean_vertex_errors_average_the_found_faces_per_vertex() -> None:
    from faceforge.errors import UsageError
    from faceforge.evaluation.synthetic import SyntheticEvalOptions, SyntheticEvalResult, SyntheticFaceResult

    def face(i: int, method: str, found: bool, d: list[float] | None) -> SyntheticFaceResult:
        return SyntheticFaceResult(i, method, found, {}, {}, {}, 0.0, 0.0, None if d is None else np.array(d))

    faces = [face(0, "gt-landmarks", True, [1.0, 2.0]), face(1, "gt-landmarks", True, [3.0, 6.0]),
             face(2, "gt-landmarks", False, None), face(0, "detector", False, None)]
    result = SyntheticEvalResult(faces, np.array([4, 1]), {}, SyntheticEvalOptions(count=3))
    err = result.mean_vertex_errors("gt-landmarks", 6)
    assert err.shape == (6,) and err[4] == 2.0 and err[1] == 4.0
    assert np.isnan(err[[0, 2, 3, 5]]).all()
    with pytest.raises(UsageError, match="detector: no fitted face"):
        result.mean_vertex_errors("detector", 6)
