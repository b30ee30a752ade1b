"""N2FNet (seed 003, III.2): a normal map of a face -> morphable-model parameters and the head pose.

Input ``N_face = N * S_face`` (eq. 1): the camera-frame unit normal map N (OpenCV camera frame, docs/conventions.md)
times the binary face mask S_face, as a (B, 3, S, S) tensor, S = ``N2FNetConfig.image_size`` (128 by default: the
network has to train in minutes and run at >= 100 FPS on one CPU core; the paper uses 256).

Architecture (Fig. 2 of seed 003, sized for a CPU):

* **Backbone** -> patch tokens T (B, N, d). The paper uses DINOv3-ViT-L/16 pre-trained on LVD-1689M; those weights
  cannot be had offline here, so the backbone is a small hybrid ViT trained from scratch: a convolutional stem
  (three stages of two 3x3 convolutions with BatchNorm, S -> S/8; early convolutions make a ViT trainable from
  scratch on little data, and in short trials here this stem learned the pose fastest), a 2x2 patch embedding
  (S/8 -> S/16, i.e. N = 64 tokens at S = 128), learned position embeddings and ``depth`` pre-norm transformer
  encoder layers.
* **Model module** (the paper's "FLAME module", eq. 2): one transformer encoder layer (multi-head self-attention +
  GELU FFN, width d, FFN 4d) -> mean pooling -> MLP ``g_F`` -> identity (first K modes), expression (Ne weights,
  linear outputs clamped to [0, 1]) and the head rotation (6D representation, Zhou et al. 2019). Not a sigmoid:
  started at the sparse prior mean (~0.02) a sigmoid's slope is 1/12 of its slope at 0.5, which starves the backbone
  of expression gradient (short trials learned no expressions either way; this removes one cause). The loss sees the
  unclamped values.
* **Camera module** (eq. 3): the same structure -> MLP ``g_C`` -> a residual rotation (6D, starts at the identity)
  composed on the left of the model module's rotation, and the head translation as the pixel position of the model
  origin in the crop and its apparent scale (pixels per model unit), which give ``t`` for any pinhole intrinsics.

Mapping of the paper's FLAME outputs to ICT-FaceKit (see ``losses.py`` for the weights): ``beta`` -> identity,
``psi`` (and the jaw rotation ``theta_jaw`` and eyelids ``gamma``, which ICT expresses as blendshapes: jawOpen,
eyeBlink_L/R, ...) -> the 53 expression weights; the pose part of ``theta`` -> the head rotation predicted by the
model module. Deviation from the paper, made because the backbone here is not pre-trained: stage 1 supervises the
head rotation too, so that the frozen backbone of stage 2 carries pose; the camera module refines it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from faceforge.errors import UsageError

# 6D rotation (first two matrix columns) of the frontal pose in the OpenCV camera frame: R = diag(1, -1, -1).
FRONTAL_6D = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# What the network can be trained on (seed 003 Table 2): input kind -> channels. "uv" is the rendered UV-coordinate
# map (Pixel3DMM's other prediction), "uv+normal" both stacked (u, v, nx, ny, nz).
INPUT_KINDS = {"normal": 3, "uv": 2, "uv+normal": 5}


@dataclass(frozen=True)
class N2FNetConfig:
    """Sizes of the network (stored with the weights).

    Attributes:
        image_size: S, input width = height in pixels (a multiple of 16).
        num_identity: K, identity modes predicted (the first K of the model).
        num_expression: Ne, expression weights predicted (all of the model's).
        dim: d, token width.
        depth: transformer layers of the backbone.
        heads: attention heads in every layer.
        mlp_ratio: FFN hidden width / d.
        stem_channels: output channels of the three stem stages (the last one is patch-embedded to d).
        stem_convs: 3x3 convolutions per stem stage (the first of each has stride 2).
        head_hidden: hidden width of the MLP heads g_F, g_C.
        expression_init: expression weight the untrained network outputs (about the prior mean).
        input_kind: what the input channels hold, a key of ``INPUT_KINDS`` (``compose_input``).
        input_masked: the input is multiplied by the face mask (eq. 1); False = the whole drawn head (ablation
            "without segmentation").
        scale_ref: apparent scale (pixels per model unit at the model origin) at which the camera module's scale
            output is 0, for ``image_size`` pixels: ``scale = scale_ref * exp(out)``.
    """

    image_size: int = 128
    num_identity: int = 30
    num_expression: int = 53
    dim: int = 128
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    stem_channels: tuple[int, int, int] = (32, 64, 128)
    stem_convs: int = 2
    head_hidden: int = 256
    scale_ref: float = 7.0
    expression_init: float = 0.02
    input_kind: str = "normal"
    input_masked: bool = True

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise UsageError(f"input_kind: expected one of {', '.join(INPUT_KINDS)}, got {self.input_kind!r}")
        if self.image_size % 16 or self.image_size <= 0:
            raise UsageError(f"image_size: expected a positive multiple of 16, got {self.image_size}")
        if self.dim % self.heads:
            raise UsageError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.num_identity < 0 or self.num_expression < 1:
            raise UsageError(f"num_identity >= 0 and num_expression >= 1 expected, got {self.num_identity}, "
                             f"{self.num_expression}")

    @property
    def num_tokens(self) -> int:
        return (self.image_size // 16) ** 2

    @property
    def in_channels(self) -> int:
        return INPUT_KINDS[self.input_kind]

    def describe_input(self) -> str:
        """e.g. "normal, face-masked" or "uv+normal, whole head"."""
        return f"{self.input_kind}, {'face-masked' if self.input_masked else 'whole head'}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stem_channels"] = list(self.stem_channels)
        return d

    @staticmethod
    def from_dict(d: dict) -> N2FNetConfig:
        d = dict(d)
        d["stem_channels"] = tuple(d["stem_channels"])
        return N2FNetConfig(**d)


@dataclass(frozen=True)
class N2FNetOutput:
    """What the network predicts for a batch.

    Attributes:
        identity: (B, K) identity weights (the first K modes; ~N(0, 1) a priori).
        expression: (B, Ne) expression weights in [0, 1] (``expression_linear`` clamped).
        expression_linear: (B, Ne) the unclamped linear outputs (what the parameter loss sees).
        model_rotation: (B, 3, 3) head rotation from the model module (model frame -> OpenCV camera frame).
        rotation: (B, 3, 3) final head rotation, camera module residual @ model_rotation (model -> camera frame).
        origin_px: (B, 2) pixel position (crop pixels, pixel-centre convention) of the model origin.
        scale_px: (B,) apparent scale f / t_z at the model origin: crop pixels per model unit.
    """

    identity: torch.Tensor
    expression: torch.Tensor
    expression_linear: torch.Tensor
    model_rotation: torch.Tensor
    rotation: torch.Tensor
    origin_px: torch.Tensor
    scale_px: torch.Tensor


def compose_input(kind: str, masked: bool, normals: torch.Tensor, mask: torch.Tensor,
                  uv: torch.Tensor | None = None) -> torch.Tensor:
    """The network input from the per-pixel buffers of an S x S crop.

    Args:
        kind: a key of ``INPUT_KINDS``; masked: multiply by the face mask (eq. 1).
        normals: (B, S, S, 3) unit OpenCV camera-frame normals of the drawn surface (0 on the background).
        mask: (B, S, S) face mask in {0, 1}.
        uv: (B, S, S, 2) texture coordinates in the model's UV layout (0 on the background); needed by "uv" kinds.
    Returns:
        (B, C, S, S) float32, channels first: "normal" (nx, ny, nz); "uv" (2u - 1, 2v - 1); "uv+normal" both, uv
        first. Pixels off the mask (``masked``) or off the surface are 0.
    """
    if kind not in INPUT_KINDS:
        raise UsageError(f"input kind: expected one of {', '.join(INPUT_KINDS)}, got {kind!r}")
    parts = []
    if kind in ("uv", "uv+normal"):
        if uv is None:
            raise UsageError(f"the {kind!r} input needs a UV map")
        on = (normals.abs().sum(-1, keepdim=True) > 0).to(uv.dtype)  # no UV off the surface
        parts.append((2.0 * uv - 1.0) * on)
    if kind in ("normal", "uv+normal"):
        parts.append(normals)
    x = torch.cat(parts, dim=-1).to(torch.float32)
    if masked:
        x = x * mask[..., None].to(x.dtype)
    return x.permute(0, 3, 1, 2).contiguous()


def rotation_6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt of the 6D representation (Zhou et al., CVPR 2019): (..., 6) -> (..., 3, 3) with columns a, b, c.

    The first three numbers give the first column direction, the next three the second column (made orthogonal).
    """
    a, b = r6[..., :3], r6[..., 3:]
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b = b - (a * b).sum(-1, keepdim=True) * a
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    c = torch.linalg.cross(a, b, dim=-1)
    return torch.stack([a, b, c], dim=-1)


def matrix_to_rotation_6d(rot: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, stacked."""
    return torch.cat([rot[..., :, 0], rot[..., :, 1]], dim=-1)


def translation_from_origin(
    origin_px: torch.Tensor, scale_px: torch.Tensor, focal_px: torch.Tensor, principal_px: torch.Tensor
) -> torch.Tensor:
    """Camera-frame translation of the model origin from where it projects and its apparent scale.

    ``t_z = f / scale`` (mean of fx, fy), ``t_x = (u - cx) t_z / fx``, ``t_y = (v - cy) t_z / fy``.

    Args:
        origin_px: (B, 2) pixels. scale_px: (B,) pixels per model unit. focal_px, principal_px: (B, 2) pixels.
    Returns:
        (B, 3) camera-frame translation, model units.
    """
    tz = focal_px.mean(-1) / scale_px
    xy = (origin_px - principal_px) / focal_px * tz[:, None]
    return torch.cat([xy, tz[:, None]], dim=-1)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))
        out = att.softmax(dim=-1) @ v  # (B, heads, N, d / heads)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class EncoderLayer(nn.Module):
    """One pre-norm transformer encoder layer: x + MHSA(LN(x)), then x + FFN(LN(x)) with a GELU FFN."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Backbone(nn.Module):
    """Conv stem + patch embedding + transformer layers: (B, 3, S, S) -> patch tokens (B, N, d).

    Stem: three stages, each a stride-2 3x3 convolution then ``stem_convs - 1`` stride-1 3x3 convolutions, every one
    followed by BatchNorm and GELU (S -> S/8). Patch embedding: a 2x2 stride-2 convolution to d channels (S/16).
    """

    def __init__(self, cfg: N2FNetConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = cfg.in_channels
        for cout in cfg.stem_channels:
            for k in range(cfg.stem_convs):
                layers += [nn.Conv2d(cin if k == 0 else cout, cout, 3, stride=2 if k == 0 else 1, padding=1,
                                     bias=False), nn.BatchNorm2d(cout), nn.GELU()]
            cin = cout
        self.stem = nn.Sequential(*layers)
        self.patch = nn.Conv2d(cin, cfg.dim, 2, stride=2)
        self.pos = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.layers = nn.Sequential(*[EncoderLayer(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(self.stem(x)).flatten(2).transpose(1, 2)  # (B, N, d)
        return self.layers(t + self.pos)


class Module(nn.Module):
    """A prediction module (eqs. 2, 3): one encoder layer -> LayerNorm -> mean pooling -> 2-layer GELU MLP."""

    def __init__(self, cfg: N2FNetConfig, num_out: int) -> None:
        super().__init__()
        self.block = EncoderLayer(cfg.dim, cfg.heads, cfg.mlp_ratio)
        self.norm = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.head_hidden), nn.GELU(), nn.Linear(cfg.head_hidden, num_out))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(self.block(tokens)).mean(dim=1))


class N2FNet(nn.Module):
    """The regressor. ``forward`` returns the raw head outputs (ONNX-friendly); ``predict`` the decoded values."""

    def __init__(self, cfg: N2FNetConfig = N2FNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.model_module = Module(cfg, cfg.num_identity + cfg.num_expression + 6)
        self.camera_module = Module(cfg, 6 + 3)
        # Start the model module near the prior mean with small input dependence: a random head outputs expression
        # weights near 0.5 and a loss far above the data variance, and its first Adam steps then collapse every
        # image onto the mean (measured: no learning within 400 steps); started at the mean it learns at once.
        head = self.model_module.mlp[-1]
        with torch.no_grad():
            head.weight.mul_(0.1)
            head.bias.zero_()
            head.bias[cfg.num_identity:cfg.num_identity + cfg.num_expression] = cfg.expression_init
        # Start the camera module at "no residual rotation, origin at the crop centre, the reference scale".
        nn.init.zeros_(self.camera_module.mlp[-1].weight)
        nn.init.zeros_(self.camera_module.mlp[-1].bias)
        self.register_buffer("frontal_6d", torch.tensor(FRONTAL_6D), persistent=False)
        self.register_buffer("identity_6d", torch.tensor(IDENTITY_6D), persistent=False)

    def forward(self, normals_face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, S, S) input (``compose_input``) -> (model outputs (B, K + Ne + 6), camera outputs (B, 9))."""
        tokens = self.backbone(normals_face)
        return self.model_module(tokens), self.camera_module(tokens)

    def decode(self, model_out: torch.Tensor, camera_out: torch.Tensor) -> N2FNetOutput:
        """Raw outputs -> ``N2FNetOutput`` (clamped expressions, rotations, pixel origin and scale)."""
        k, ne, s = self.cfg.num_identity, self.cfg.num_expression, self.cfg.image_size
        identity = model_out[:, :k]
        linear = model_out[:, k:k + ne]
        model_rot = rotation_6d_to_matrix(model_out[:, k + ne:] + self.frontal_6d)
        delta = rotation_6d_to_matrix(camera_out[:, :6] + self.identity_6d)
        origin = (camera_out[:, 6:8] + 1.0) * (s / 2.0) - 0.5  # 0 = the crop centre
        scale = self.cfg.scale_ref * (s / 128.0) * torch.exp(camera_out[:, 8])
        return N2FNetOutput(identity, linear.clamp(0.0, 1.0), linear, model_rot, delta @ model_rot, origin, scale)

    def predict(self, normals_face: torch.Tensor) -> N2FNetOutput:
        """Validated forward + decode. normals_face: (B, C, S, S) float32, the input of ``cfg.input_kind``
        (``compose_input``; C = 3 for the default masked normals, see the module docstring)."""
        s, c = self.cfg.image_size, self.cfg.in_channels
        if normals_face.ndim != 4 or tuple(normals_face.shape[1:]) != (c, s, s):
            raise UsageError(f"network input ({self.cfg.describe_input()}): expected shape (B, {c}, {s}, {s}), got "
                             f"{tuple(normals_face.shape)}")
        return self.decode(*self(normals_face))


@dataclass(frozen=True)
class ParameterCount:
    """Parameters per part of the network."""

    backbone: int
    model_module: int
    camera_module: int
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.backbone + self.model_module + self.camera_module)


def count_parameters(net: N2FNet) -> ParameterCount:
    def n(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    return ParameterCount(n(net.backbone), n(net.model_module), n(net.camera_module))
