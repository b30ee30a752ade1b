"""A tiny morphable model built in code, for fast unit tests and examples (no asset needed).

An ellipsoidal "head" (a UV sphere scaled to 8 x 10 x 9 cm, +z = face front, centimetres like ICT-FaceKit),
smooth random identity modes and localized expression blendshapes. 68 landmark vertices are spread over the front
hemisphere in iBUG-like positions. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
import torch

from faceforge.morphable.model import MorphableModel, as_tensor

SYNTHETIC_EXPRESSIONS = ("eyeBlink_L", "eyeBlink_R", "jawOpen", "mouthSmile_L", "mouthSmile_R", "browInnerUp")


def _uv_sphere(rings: int, segments: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit UV sphere: vertices (V, 3), faces (F, 3) counter-clockwise outside, spherical angles (V, 2)."""
    verts = [(0.0, 1.0, 0.0)]
    angles = [(0.0, 0.0)]
    for i in range(1, rings):
        theta = np.pi * i / rings  # from +y (top) down
        for j in range(segments):
            phi = 2 * np.pi * j / segments  # around y; phi = 0 at +z (the face front)
            verts.append((np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)))
            angles.append((theta, phi))
    verts.append((0.0, -1.0, 0.0))
    angles.append((np.pi, 0.0))
    v = np.array(verts)
    faces = []
    last = len(verts) - 1

    def idx(i: int, j: int) -> int:
        return 1 + (i - 1) * segments + (j % segments)

    for j in range(segments):
        faces.append((0, idx(1, j), idx(1, j + 1)))
    for i in range(1, rings - 1):
        for j in range(segments):
            a, b, c, d = idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1)
            faces.extend([(a, b, c), (a, c, d)])
    for j in range(segments):
        faces.append((last, idx(rings - 1, j + 1), idx(rings - 1, j)))
    f = np.array(faces, dtype=np.int64)
    # Orient outward: the normal of each face must point away from the centre.
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = (n * v[f].mean(1)).sum(1) < 0
    f[flip] = f[flip][:, ::-1]
    return v, f, np.array(angles)


def make_synthetic_model(
    num_identity: int = 8, rings: int = 32, segments: int = 48, seed: int = 0
) -> MorphableModel:
    """Build the tiny test model.

    Args:
        num_identity: number of identity modes (weights ~ N(0, 1), each moving vertices by up to ~0.5 cm).
        rings, segments: sphere resolution (V = (rings - 1) * segments + 2).
        seed: random seed for the identity modes.
    Returns:
        MorphableModel named "synthetic", units cm, expressions ``SYNTHETIC_EXPRESSIONS`` bounded to [0, 1].
    """
    rng = np.random.default_rng(seed)
    unit, faces, _ = _uv_sphere(rings, segments)
    radii = np.array([8.0, 10.0, 9.0])
    template = unit * radii

    # Identity: smooth fields = radial displacement by low-order polynomials of the unit direction.
    feats = np.stack([unit[:, 0], unit[:, 1], unit[:, 2], unit[:, 0] * unit[:, 1], unit[:, 1] * unit[:, 2],
                      unit[:, 0] ** 2 - unit[:, 1] ** 2, unit[:, 2] ** 2, unit[:, 0] * unit[:, 2]], 1)
    coefs = rng.normal(size=(num_identity, feats.shape[1])) * 0.25
    identity = (coefs @ feats.T)[:, :, None] * unit[None]

    # Landmarks: 68 points on the front hemisphere, laid out like the iBUG scheme in (azimuth, elevation).
    def nearest(az: float, el: float) -> int:
        d = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
        return int(np.argmax(unit @ d))

    pts: list[tuple[float, float]] = []
    pts += [(-1.2 + 2.4 * k / 16, -0.15 - 0.55 * np.sin(np.pi * k / 16)) for k in range(17)]  # jaw 0-16
    pts += [(-0.75 + 0.6 * k / 4, 0.45) for k in range(5)] + [(0.15 + 0.6 * k / 4, 0.45) for k in range(5)]  # brows
    pts += [(0.0, 0.3 - 0.3 * k / 3) for k in range(4)] + [(-0.2 + 0.1 * k, -0.08) for k in range(5)]  # nose

    def ring(cx: float, cy: float, rx: float, ry: float, n: int) -> list[tuple[float, float]]:
        angles = np.linspace(0, 2 * np.pi, n + 1)[:n]
        return [(cx + rx * np.cos(np.pi - a), cy + ry * np.sin(np.pi - a)) for a in angles]

    pts += ring(-0.45, 0.25, 0.2, 0.06, 6) + ring(0.45, 0.25, 0.2, 0.06, 6)  # eyes 36-47
    pts += ring(0.0, -0.35, 0.4, 0.12, 12) + ring(0.0, -0.35, 0.3, 0.04, 8)  # mouth 48-67
    landmarks = np.array([nearest(a, e) for a, e in pts], dtype=np.int64)

    # Expressions: Gaussian bumps around landmark groups, moving along fixed directions.
    def bump(center_lm: list[int], direction: tuple[float, float, float], radius: float, amount: float) -> np.ndarray:
        c = template[center_lm].mean(0)
        w = np.exp(-((template - c) ** 2).sum(1) / (2 * radius**2))
        return amount * w[:, None] * np.array(direction)[None]

    expression = np.stack([
        bump([37, 38, 40, 41], (0, -1, 0), 1.0, 0.6),
        bump([43, 44, 46, 47], (0, -1, 0), 1.0, 0.6),
        bump([8, 57, 66], (0, -1, 0.2), 2.5, 1.5),
        bump([48], (-0.6, 0.8, 0), 1.2, 0.8),
        bump([54], (0.6, 0.8, 0), 1.2, 0.8),
        bump([21, 22], (0, 1, 0), 1.5, 0.7),
    ])
    regions = {
        "face": np.nonzero(unit[:, 2] > 0.0)[0],
        "eyes": np.nonzero(np.abs(template[:, 1] - template[landmarks[36:48], 1].mean()) < 1.2)[0],
    }
    return MorphableModel(
        name="synthetic",
        template=as_tensor(template, torch.float32),
        identity_basis=as_tensor(identity, torch.float32),
        expression_basis=as_tensor(expression, torch.float32),
        expression_names=SYNTHETIC_EXPRESSIONS,
        faces=as_tensor(faces, torch.int64),
        landmark_indices=as_tensor(landmarks, torch.int64),
        contour_candidates=as_tensor(landmarks[:17], torch.int64),
        regions={k: as_tensor(v_.astype(np.int64), torch.int64) for k, v_ in regions.items()},
        units="cm",
    )
