"""Training data for N2FNet: batches of synthetic faces, new ones every step, deterministic per seed.

``SyntheticSource(model, image_size, seed).batch(index, batch_size)`` returns the same ``TrainingBatch`` for the same
(seed, index) on any machine; training asks for index = step, validation uses a separate seed. ``BatchStream`` wraps
a source as an iterable that a ``torch.utils.data.DataLoader`` can run in worker processes (render the next batches
while the network trains on this one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from faceforge.morphable.model import MorphableModel

_FLIP = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # params.json world (OpenGL camera axes) <-> OpenCV camera


def data_version(seed: int, image_size: int, jitter: CropJitter, input_kind: str = "normal",
                 input_masked: bool = True) -> str:
    """The name of the training stream: synthetic set version, seed, size, split, crop jitter (and the input when it
    is not the default face-masked normal map)."""
    from faceforge.datasets.synthetic import SYNTHETIC_VERSION

    extra = "" if (input_kind, input_masked) == ("normal", True) else \
        f", input {input_kind}{'' if input_masked else ' (whole head, no face mask)'}"
    return (f"faceforge.datasets.synthetic v{SYNTHETIC_VERSION}, split train, seed {seed}, image_size {image_size}, "
            f"{jitter.describe()}{extra}")


@dataclass(frozen=True)
class TrainingBatch:
    """A batch of synthetic training faces (seed 003, III.4) at S x S, already cropped (eqs. 6-9).

    Attributes:
        normals: (B, S, S, 3) float32 unit camera-frame (OpenCV) normals on the face mask, 0 elsewhere: N_face*.
        mask: (B, S, S) float32 face mask S_face* in {0, 1}.
        landmarks_px: (B, 68, 2) float32 projected iBUG-68 landmarks, crop pixels.
        identity: (B, Ni) float32 ground-truth identity weights (all of the model's modes).
        expression: (B, Ne) float32 ground-truth expression weights.
        rotation: (B, 3, 3) float32 head rotation, model -> OpenCV camera frame.
        translation: (B, 3) float32 head translation in the camera frame, model units.
        focal: (B, 2) float32 fx, fy of the crop, pixels.
        principal: (B, 2) float32 cx, cy of the crop, pixels.
        normals_full: (B, S, S, 3) float32 normals of the whole drawn head (0 on the background): the input of the
            "without segmentation" ablation.
        uv: (B, S, S, 2) float32 UV map of the drawn head (0 on the background), or None (not rendered).
    """

    normals: torch.Tensor
    mask: torch.Tensor
    landmarks_px: torch.Tensor
    identity: torch.Tensor
    expression: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    focal: torch.Tensor
    principal: torch.Tensor
    normals_full: torch.Tensor | None = None
    uv: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.normals.shape[0])

    def network_input(self, kind: str = "normal", masked: bool = True) -> torch.Tensor:
        """(B, C, S, S) the network input, channels first: by default N_face = N * S_face (eq. 1); other kinds
        and the unmasked input for the ablations (``network.compose_input``)."""
        from faceforge.fit.n2fnet.network import compose_input

        if (kind, masked) == ("normal", True):
            return (self.normals * self.mask[..., None]).permute(0, 3, 1, 2).contiguous()
        if not masked and self.normals_full is None:
            raise ValueError("this batch has no whole-head normals")
        return compose_input(kind, masked, self.normals if masked else self.normals_full, self.mask, self.uv)


@dataclass(frozen=True)
class CropJitter:
    """Random moves of the training crop (DECA-style box augmentation), drawn per face.

    The synthetic set centres every crop on the true landmarks' box; a network trained only on such crops learns that
    the face sits in the middle and cannot tell where it really is (measured: with crops from a face mask's box, off
    by up to ~15 % of the side, the predicted landmarks followed the crop). The crop box (x0, y0, side) of the
    original image moves by ``shift`` x side per axis (uniform in [-shift, shift]) and its side is scaled by a
    factor uniform in [``scale_min``, ``scale_max``] about its centre; ``crop_camera`` then gives its camera.
    """

    shift: float = 0.08
    scale_min: float = 0.9
    scale_max: float = 1.15

    def describe(self) -> str:
        return f"crop jitter shift {self.shift:g}, scale [{self.scale_min:g}, {self.scale_max:g}]"


NO_JITTER = CropJitter(0.0, 1.0, 1.0)


class SyntheticSource:
    """Deterministic batches of the synthetic set's train split: batch ``index`` of size n holds train faces
    ``index * n .. index * n + n - 1`` of ``SyntheticFaces(model, SyntheticOptions(seed, image_size))``, each crop
    moved by ``jitter`` (drawn from a generator seeded by (seed, face index)); ``uv`` also renders the UV maps."""

    def __init__(self, model: MorphableModel, image_size: int, seed: int, jitter: CropJitter = NO_JITTER,
                 uv: bool = False) -> None:
        from faceforge.datasets.synthetic import SyntheticFaces, SyntheticOptions
        from faceforge.fit.n2fnet.rendering import FaceParts

        self.model = model
        self.image_size = image_size
        self.seed = seed
        self.jitter = jitter
        self.uv = uv
        self.faces = SyntheticFaces(model, SyntheticOptions(seed=seed, image_size=image_size))
        self.parts = FaceParts.of(model)

    def sample(self, index: int, split: str = "train"):
        """Face ``index`` of ``split`` with its crop jittered (a ``SyntheticSample``)."""
        import numpy as np

        from faceforge.camera.build import crop_camera

        scene = self.faces.scene(index, split)
        j = self.jitter
        if j != NO_JITTER:
            rng = np.random.default_rng([self.seed, index, 1 if split == "train" else 2])
            x0, y0, side = (float(v) for v in scene.crop_box)
            centre = np.array([x0, y0]) - 0.5 + side / 2.0 + rng.uniform(-j.shift, j.shift, 2) * side
            side = side * rng.uniform(j.scale_min, j.scale_max)
            box = np.r_[centre - side / 2.0 + 0.5, side]
            camera = crop_camera(scene.original_camera, torch.tensor(box, dtype=torch.float32), self.image_size)
            scene = replace(scene, camera=camera, crop_box=box)
        return self.faces.render(scene, uv=self.uv)

    def batch(self, index: int, batch_size: int, split: str = "train") -> TrainingBatch:
        return batch_from_samples([self.sample(index * batch_size + j, split) for j in range(batch_size)])


def batch_from_samples(samples: list) -> TrainingBatch:
    """``faceforge.datasets.synthetic.SyntheticSample`` list -> TrainingBatch (head pose moved into the OpenCV
    camera frame: ``R_cam = F @ R``, ``t_cam = F @ t`` with F = diag(1, -1, -1), the params.json camera)."""
    from faceforge.geometry import axis_angle_to_matrix

    def stack(get) -> torch.Tensor:
        return torch.stack([torch.as_tensor(get(s)) for s in samples]).to(torch.float32)

    mask = stack(lambda s: s.face_mask)
    normals = stack(lambda s: s.normals_cam) * mask[..., None]
    params = [s.scene.params for s in samples]
    rot = axis_angle_to_matrix(torch.cat([p.rotation for p in params]))
    trans = torch.cat([p.translation for p in params])
    return TrainingBatch(
        normals=normals, mask=mask, landmarks_px=stack(lambda s: s.landmarks_68_px),
        identity=torch.cat([p.identity for p in params]), expression=torch.cat([p.expression for p in params]),
        rotation=_FLIP @ rot, translation=trans @ _FLIP,
        focal=torch.cat([s.scene.camera.focal for s in samples]),
        principal=torch.cat([s.scene.camera.principal for s in samples]),
        normals_full=stack(lambda s: s.normals_cam),
        uv=stack(lambda s: s.uv) if all(s.uv is not None for s in samples) else None,
    )


class BatchStream(torch.utils.data.IterableDataset):
    """Batches ``start, start + 1, ...`` of a source, in order (one worker keeps the order; more would interleave)."""

    def __init__(self, source: SyntheticSource, start: int, count: int, batch_size: int) -> None:
        super().__init__()
        self.source, self.start, self.count, self.batch_size = source, start, count, batch_size

    def __iter__(self) -> Iterator[TrainingBatch]:
        torch.set_num_threads(1)
        for i in range(self.start, self.start + self.count):
            yield self.source.batch(i, self.batch_size)


def iterate_batches(source: SyntheticSource, start: int, count: int, batch_size: int, workers: int) -> Iterator:
    """Batches ``start .. start + count - 1``; ``workers`` = 1 renders them in a background process."""
    stream = BatchStream(source, start, count, batch_size)
    if workers <= 0:
        return iter(stream)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=1, prefetch_factor=2,
                                         persistent_workers=False)
    return iter(loader)
