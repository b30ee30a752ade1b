"""Evaluation metrics: pure functions on float64 NumPy arrays (units in each name: ``_mm``, ``_deg``, ``_px``).

- ``landmarks``: NME (inter-ocular / box), per group, failure rate, cumulative error curve, AUC.
- ``alignment``: Kabsch/Umeyama ``rigid_align``, point-to-surface ``icp_align``.
- ``surface``: exact closest points on triangle meshes (``MeshSurface``), vertex normals.
- ``reconstruction``: CD (NoW protocol), MNE, CR@2mm, per-region errors (``compare_meshes``).
- ``temporal``: landmark jitter, optical-flow warping error.
- ``image``: SSIM. ``speed``: frames per second.
"""

from faceforge.metrics.alignment import IcpResult, RigidTransform, icp_align, rigid_align
from faceforge.metrics.image import ssim
from faceforge.metrics.landmarks import (
    ErrorCurve,
    area_under_curve,
    cumulative_error_curve,
    failure_rate,
    nme,
    nme_by_group,
    nme_on_points,
)
from faceforge.metrics.reconstruction import (
    MeshErrorOptions,
    MeshErrors,
    RegionErrors,
    chamfer_distance_mm,
    compare_meshes,
    completeness_rate,
    mean_normal_error_deg,
    normal_angles_deg,
    region_errors,
)
from faceforge.metrics.speed import frames_per_second
from faceforge.metrics.surface import ClosestPoints, MeshSurface, vertex_normals_np
from faceforge.metrics.temporal import WarpingError, flow_warping_error, landmark_jitter, optical_flow

__all__ = [
    "ClosestPoints",
    "ErrorCurve",
    "IcpResult",
    "MeshErrorOptions",
    "MeshErrors",
    "MeshSurface",
    "RegionErrors",
    "RigidTransform",
    "WarpingError",
    "area_under_curve",
    "chamfer_distance_mm",
    "compare_meshes",
    "completeness_rate",
    "cumulative_error_curve",
    "failure_rate",
    "flow_warping_error",
    "frames_per_second",
    "icp_align",
    "landmark_jitter",
    "mean_normal_error_deg",
    "nme",
    "nme_by_group",
    "nme_on_points",
    "normal_angles_deg",
    "optical_flow",
    "region_errors",
    "rigid_align",
    "ssim",
    "vertex_normals_np",
]
