"""Build the MediaPipe-478 <-> ICT-FaceKit correspondence (src/faceforge/data/mediapipe478_ict.json).

Method: render the ICT head (neutral expression, the mean identity and a few random identities) from a grid of views
with a plain skin albedo, white eyes with an iris disc and pupil, one light and a grey background; run faceforge's
MediaPipe detector on each render; read which triangle and barycentric position is under each detected landmark from
the z-buffer; keep, per landmark, only the views where that surface point is visible and faces the camera; take the
medoid of the samples in template space. Iris points (468-477) are defined geometrically on the eyeballs (pupil
centre and iris edge at a radius measured from the detector on photos, ``IRIS_TO_EYE_WIDTH``).

Quality: the script re-renders held-out views (new identities, in-between angles), projects the correspondence with
the known camera and reports the error against the detector in % of the outer-eye-corner distance (NME-style), and
writes a picture (detections red, correspondence green) to --picture.

Run: FACEFORGE_CACHE_DIR=... python scripts/build_correspondence.py [--picture /tmp/corr.png]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from faceforge.assets import ict_manifest, load_model
from faceforge.camera.build import look_at_face_camera
from faceforge.camera.projection import project
from faceforge.detect.faces import DetectFacesOptions, detect_faces
from faceforge.detect.indices import LEFT_IRIS, RIGHT_IRIS
from faceforge.errors import NoFaceError
from faceforge.geometry import vertex_normals
from faceforge.morphable import evaluate
from faceforge.render import (
    interpolate,
    rasterize,
    render_mask,
    render_normals,
    select_faces,
    sh_from_directional_light,
    shade_lambertian,
    visible_face_indices,
)
from faceforge.render.encode import linear_to_srgb, to_uint8
from faceforge.structures import FaceParams

OUT = Path(__file__).resolve().parents[1] / "src" / "faceforge" / "data" / "mediapipe478_ict.json"
SIZE = 512
SKIN = (0.78, 0.57, 0.47)


# Iris radius relative to the eye: the detector's iris ring radius (mean distance of its 4 edge points from its centre)
# over its eye-corner distance (33-133, 263-362), median over the 164 eyes of the 300-W AFW dev faces: 0.22
# (quartiles 0.20, 0.23). ICT's "iris" material covers the whole front half of the eyeball (the texture draws the
# iris), so the iris disc is defined here geometrically with this radius.
IRIS_TO_EYE_WIDTH = 0.22


def iris_geometry(model) -> dict[str, tuple[int, float, np.ndarray]]:
    """Per eyeball region: (front-pole vertex = pupil centre, iris radius in cm, the eyeball's vertex ids).

    The radius is ``IRIS_TO_EYE_WIDTH`` times the eye width between the model's Multi-PIE eye-corner vertices
    (landmarks 36-39 and 42-45), the mean of both eyes.
    """
    tmpl = model.template.numpy().astype(np.float64)
    lmk = tmpl[model.landmark_indices.numpy()]
    width = 0.5 * (np.linalg.norm(lmk[36] - lmk[39]) + np.linalg.norm(lmk[42] - lmk[45]))
    out = {}
    for region in ("eyeball_right", "eyeball_left"):
        eye = model.region(region).numpy()
        out[region] = (int(eye[np.argmax(tmpl[eye, 2])]), IRIS_TO_EYE_WIDTH * width, eye)
    return out


def vertex_albedo(model) -> torch.Tensor:
    """(V, 3) per-vertex albedo by material: skin, white sclera with a brown iris disc and a dark pupil, mouth."""
    alb = torch.tensor(SKIN).repeat(model.num_vertices, 1)
    groups = model.face_groups
    colours = {"M_ScleraLeft": (0.85, 0.85, 0.82), "M_ScleraRight": (0.85, 0.85, 0.82),
               "M_IrisLeft": (0.85, 0.85, 0.82), "M_IrisRight": (0.85, 0.85, 0.82),
               "M_GumsTongue": (0.5, 0.2, 0.2), "M_Teeth": (0.9, 0.9, 0.85)}
    for name, c in colours.items():
        if name in model.group_names:
            verts = model.faces[groups == model.group_names.index(name)].reshape(-1).unique()
            alb[verts] = torch.tensor(c)
    tmpl = model.template.numpy()
    for pole, radius, eye in iris_geometry(model).values():
        rel = tmpl[eye] - tmpl[pole]
        front = rel[:, 2] > -radius
        dist = np.linalg.norm(rel[:, :2], axis=1)
        alb[torch.from_numpy(eye[front & (dist < radius)])] = torch.tensor((0.30, 0.17, 0.09))
        alb[torch.from_numpy(eye[front & (dist < 0.4 * radius)])] = torch.tensor((0.03, 0.03, 0.03))
    return alb


def render_view(model, mesh_all, faces_idx, albedo, yaw_deg, pitch_deg):
    """Shade one view; returns the uint8 image, fragments (face ids into the full model) and camera."""
    mesh = select_faces(mesh_all, faces_idx)
    face_pts = mesh_all.vertices[:, model.region("face")]
    cam = look_at_face_camera(face_pts, SIZE, SIZE, math.radians(yaw_deg), math.radians(pitch_deg), fov_deg=25.0,
                              padding=1.25)
    frags = rasterize(mesh, cam)
    normals = render_normals(mesh, cam, frags, frame="world")
    alb = interpolate(albedo[None], mesh.faces, frags)
    eye = -(cam.rotation[0].T @ cam.translation[0])
    light_dir = (eye / eye.norm() + torch.tensor([0.3, 0.6, 0.0]))[None]
    sh = sh_from_directional_light(light_dir, torch.full((1, 3), 0.75), torch.full((1, 3), 0.35))
    img = shade_lambertian(alb, normals, sh, render_mask(frags), background=0.25)
    img = to_uint8(linear_to_srgb(img.clamp(0, 1)))[0]
    full_ids = torch.where(frags.face_index >= 0, faces_idx[frags.face_index.clamp_min(0)], -1)
    return img, full_ids[0].numpy(), frags.bary[0].numpy(), cam


# Gaze zero. With the iris centre at the eyeball's front pole, fitted photos of people looking at (or near) the camera
# read a median eyeLookIn - eyeLookOut of 0.26 (right eye) / 0.33 (left) on the 80 eyes-visible 300-W AFW dev faces,
# i.e. ~10 degrees of convergence per eye, which camera-distance gaze does not have: relative to its lid corners
# ICT's neutral eyeballs look slightly outward compared with real eyes (the detector puts real irises at 0.465 of the
# eye width from the outer corner, renders of ICT's neutral eye at 0.41-0.44). The iris landmarks are therefore placed
# where the eyeball's pole is after turning it this much towards the nose: a fit reads gaze relative to a typical
# human resting gaze. Measured with ``python scripts/gaze_bias.py --images ../shared/data/dev/300w-afw/images``.
IRIS_NASAL_DEG = 10.0


def _ray_hit(origin: np.ndarray, direction: np.ndarray, tris: np.ndarray) -> tuple[int, np.ndarray] | None:
    """The farthest hit of a ray with triangles ((T, 3, 3)): (triangle position, barycentric (3,)), or None."""
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(direction, e2)
    det = (e1 * p).sum(1)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = origin - a
    u = (s * p).sum(1) * inv
    q = np.cross(s, e1)
    v = (direction * q).sum(1) * inv
    t = (e2 * q).sum(1) * inv
    hit = ok & (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9) & (t > 0)
    if not hit.any():
        return None
    k = int(np.argmax(np.where(hit, t, -np.inf)))
    return k, np.array([1.0 - u[k] - v[k], u[k], v[k]])


def iris_points(model, nasal_deg: float = IRIS_NASAL_DEG) -> dict[int, tuple[int, np.ndarray]]:
    """Geometric iris correspondences on the neutral eyeballs: landmark -> (triangle, barycentric).

    The iris axis is the direction from the eyeball's centroid (the eye rig's pivot) to its front pole, turned
    ``nasal_deg`` towards the nose about the vertical. The centre landmark is where the axis leaves the eyeball; the
    four edge points are where rays from the centroid through points at the iris radius (``iris_geometry``) around
    the axis leave it, in MediaPipe's order after the centre, which is mirrored between the eyes: right eye (468-472)
    larger image x, above, smaller image x, below; left eye (473-477) smaller image x, above, larger image x, below
    (a frontal face has image x along model +x and image up along model +y).
    """
    tmpl = model.template.numpy().astype(np.float64)
    faces = model.faces.numpy()
    out: dict[int, tuple[int, np.ndarray]] = {}
    geometry = iris_geometry(model)
    for ids, region, directions in ((RIGHT_IRIS, "eyeball_right", ((1, 0), (0, 1), (-1, 0), (0, -1))),
                                    (LEFT_IRIS, "eyeball_left", ((-1, 0), (0, 1), (1, 0), (0, -1)))):
        pole, radius, eye = geometry[region]
        in_eye = np.zeros(model.num_vertices, bool)
        in_eye[eye] = True
        tri_ids = np.nonzero(in_eye[faces].all(1))[0]
        tris = tmpl[faces[tri_ids]]
        pivot = tmpl[eye].mean(0)
        axis = (tmpl[pole] - pivot) / np.linalg.norm(tmpl[pole] - pivot)
        nasal = np.radians(nasal_deg) * (1.0 if region == "eyeball_right" else -1.0)  # right eye: nose at +x
        turn = np.array([[np.cos(nasal), 0, np.sin(nasal)], [0, 1, 0], [-np.sin(nasal), 0, np.cos(nasal)]])
        axis = turn @ axis
        ex = np.cross([0.0, 1.0, 0.0], axis)
        ex /= np.linalg.norm(ex)
        ey = np.cross(axis, ex)
        hit = _ray_hit(pivot, axis, tris)
        if hit is None:
            raise SystemExit(f"iris landmark {ids[0]}: the iris axis misses the eyeball")
        centre = (tris[hit[0]] * hit[1][:, None]).sum(0)
        out[ids[0]] = (int(tri_ids[hit[0]]), hit[1])
        for lm, (dx, dy) in zip(ids[1:], directions, strict=True):
            target = centre + radius * (dx * ex + dy * ey)
            hit = _ray_hit(pivot, (target - pivot) / np.linalg.norm(target - pivot), tris)
            if hit is None:
                raise SystemExit(f"iris landmark {lm}: no eyeball triangle under the iris edge")
            out[lm] = (int(tri_ids[hit[0]]), hit[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--picture", type=Path, default=Path("/tmp/correspondence.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--identities", type=int, default=8, help="identities rendered (every other one with expressions)")
    ap.add_argument("--max-yaw", type=int, default=40, help="largest yaw of the training views, degrees")
    args = ap.parse_args()
    t0 = time.time()
    model = load_model()
    rng = np.random.default_rng(args.seed)
    faces = model.faces.numpy()
    tmpl = model.template.numpy().astype(np.float64)
    faces_idx = visible_face_indices(model)
    albedo = vertex_albedo(model)
    det_opts = DetectFacesOptions()

    mouth_eye = [k for k, n in enumerate(model.expression_names) if n.startswith(("mouth", "jaw", "brow", "eyeBlink",
                                                                                     "eyeSquint", "cheek"))]

    def sample_expression(neutral: bool) -> np.ndarray:
        e = np.zeros(model.num_expression)
        if not neutral:  # a few moderate activations: the correspondence must hold on expressive faces too
            k = rng.choice(mouth_eye, 3, replace=False)
            e[k] = rng.uniform(0.0, 0.5, 3)
        return e

    def views(identities, yaws, pitches):
        for n, ident in enumerate(identities):
            expr = sample_expression(neutral=n % 2 == 0)
            p = FaceParams(torch.tensor(ident[None], dtype=torch.float32),
                           torch.tensor(expr[None], dtype=torch.float32), torch.zeros(1, 3), torch.zeros(1, 3))
            mesh = evaluate(model, p)
            normals = vertex_normals(mesh.vertices, mesh.faces)[0].numpy()
            for yaw in yaws:
                for pitch in pitches:
                    img, ids, bary, cam = render_view(model, mesh, faces_idx, albedo, yaw, pitch)
                    try:
                        det = detect_faces(img, det_opts)[0]
                    except NoFaceError:
                        continue
                    yield mesh, normals, img, ids, bary, cam, det, yaw, pitch

    train_ids = [np.zeros(model.num_identity)] + [rng.normal(0, 0.7, model.num_identity)
                                                  for _ in range(args.identities - 1)]
    samples: list[list[tuple[int, np.ndarray, float]]] = [[] for _ in range(468)]
    n_views = 0
    yaws = range(-args.max_yaw, args.max_yaw + 1, 10)
    for _mesh, _normals, _img, ids, bary, _cam, det, yaw, pitch in views(train_ids, yaws, (-20, -10, 0, 10, 20)):
        n_views += 1
        pts = det.points_px[:468, :2]
        for lm, (x, y) in enumerate(pts):
            i, j = int(round(y)), int(round(x))
            if not (0 <= i < SIZE and 0 <= j < SIZE) or ids[i, j] < 0:
                continue
            f = int(ids[i, j])
            # Trust frontal-ish views more: the mesh model is most accurate there.
            w = math.cos(math.radians(yaw)) ** 2 * math.cos(math.radians(pitch)) ** 2
            samples[lm].append((f, bary[i, j].astype(np.float64), w))
    print(f"{n_views} training views rendered and detected in {time.time() - t0:.0f} s")

    face_index = np.zeros(478, dtype=np.int64)
    bary_out = np.zeros((478, 3))
    spread_mm = np.zeros(478)
    for lm in range(468):
        s = samples[lm]
        if not s:
            raise SystemExit(f"landmark {lm}: never on the model surface")
        pos = np.array([(tmpl[faces[f]] * b[:, None]).sum(0) for f, b, _ in s])
        w = np.array([x for _, _, x in s])
        centre = np.array([np.average(pos[:, c], weights=w) for c in range(3)])
        # Robust centre: re-weight by distance, then take the medoid (a real surface point).
        for _ in range(3):
            d = np.linalg.norm(pos - centre, axis=1)
            ww = w / np.maximum(d, 0.05)
            centre = (pos * ww[:, None]).sum(0) / ww.sum()
        k = int(np.argmin(np.linalg.norm(pos - centre, axis=1)))
        face_index[lm], bary_out[lm] = s[k][0], s[k][1]
        spread_mm[lm] = float(np.median(np.linalg.norm(pos - pos[k], axis=1)) * 10.0)
    # Renders show the model's own eyes (iris disc at the pole): check the iris geometry there with no gaze offset.
    render_index, render_bary = face_index.copy(), bary_out.copy()
    for lm, (f, b) in iris_points(model, nasal_deg=0.0).items():
        render_index[lm], render_bary[lm] = f, b
    for lm, (f, b) in iris_points(model).items():
        face_index[lm], bary_out[lm] = f, b

    # Held-out quality: new identities and in-between angles.
    test_ids = [rng.normal(0, 0.8, model.num_identity) for _ in range(2)]
    errs, errs_frontal, iris_frontal, picture = [], [], [], None
    for mesh, _n, img, _ids, _b, cam, det, yaw, _pitch in views(test_ids, (-25, -5, 5, 25), (-8, 8)):
        tri = mesh.vertices[0].numpy()[faces[render_index]]
        pts3 = (tri * render_bary[:, :, None]).sum(1)
        proj = project(torch.tensor(pts3[None], dtype=torch.float32), cam)[0].numpy()
        io = np.linalg.norm(det.points_px[33, :2] - det.points_px[263, :2])
        e_all = np.linalg.norm(proj - det.points_px[:, :2], axis=1) / io
        e = e_all[:468]
        errs.append(e)
        if abs(yaw) <= 5:
            errs_frontal.append(e)
            iris_frontal.append(e_all[468:])
        if picture is None and yaw == 25:
            import cv2

            picture = img[:, :, ::-1].copy()
            for (x, y) in det.points_px[:, :2]:
                cv2.circle(picture, (int(round(x)), int(round(y))), 2, (0, 0, 255), -1)
            for (x, y) in proj:
                cv2.circle(picture, (int(round(x)), int(round(y))), 1, (0, 255, 0), -1)
            cv2.imwrite(str(args.picture), picture)
    errs = np.array(errs)
    quality = {
        "heldout_views": int(errs.shape[0]),
        "median_error_pct_interocular": float(np.median(errs) * 100),
        "mean_error_pct_interocular": float(errs.mean() * 100),
        "median_error_pct_frontal": float(np.median(np.array(errs_frontal)) * 100) if errs_frontal else None,
        "median_sample_spread_mm": float(np.median(spread_mm[:468])),
        "iris_median_error_pct_frontal": float(np.median(np.array(iris_frontal)) * 100) if iris_frontal else None,
    }
    reliability = np.exp(-np.median(errs, axis=0) / 0.05)  # per landmark, 1 = agrees perfectly
    weights = np.r_[reliability, np.zeros(10)]  # iris points: used by the gaze step, not the shape fit
    data = {
        "schema_version": 1,
        "description": "MediaPipe 478-point face landmarks -> ICT-FaceKit surface points (triangle + barycentric)",
        "model": "ict-facekit",
        "model_commit": ict_manifest()["commit"],
        "triangulation": "quads (a,b,c,d) -> (a,b,c),(a,c,d); triangle indices into the triangulated OBJ",
        "made_by": f"python scripts/build_correspondence.py --seed {args.seed} --identities {args.identities} "
        f"--max-yaw {args.max_yaw}",
        "training_views": n_views,
        "quality": quality,
        "face_index": face_index.tolist(),
        "barycentric": np.round(bary_out, 6).tolist(),
        "weight": np.round(weights, 4).tolist(),
    }
    OUT.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")
    print(json.dumps(quality, indent=1))
    print(f"wrote {OUT} in {time.time() - t0:.0f} s; picture {args.picture}")


if __name__ == "__main__":
    main()
