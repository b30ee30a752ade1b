"""Image similarity: SSIM (Wang et al., "Image quality assessment: from error visibility to structural similarity",
IEEE TIP 2004).

``ssim`` calls ``skimage.metrics.structural_similarity`` with the paper's settings: an 11x11 Gaussian window of
sigma 1.5, population (not sample) covariances, K1 = 0.01, K2 = 0.03, averaged over channels, and the data range of
the dtype (255 for uint8, 1 for floats in [0, 1]). Like skimage, the SSIM map is averaged over the pixels at least 5
pixels inside the image border (where the window fits); with a mask, over the masked ones among those (the map is
computed on the whole image, so pixels near the mask's edge still see their unmasked neighbours).
"""

from __future__ import annotations

import numpy as np

from faceforge.errors import UsageError

_PAD = 5  # half the 11x11 window


def ssim(image_a: np.ndarray, image_b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean structural similarity of two images.

    Args:
        image_a, image_b: (H, W) or (H, W, C) images of one shape and dtype: uint8, or float in [0, 1]; H, W >= 11.
        mask: (H, W) bool pixels to average over (default all).
    Returns:
        SSIM in [-1, 1] (1 for identical images).
    """
    from skimage.metrics import structural_similarity

    a, b = np.asarray(image_a), np.asarray(image_b)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise UsageError(f"images: expected one shape and dtype, got {a.shape} {a.dtype} and {b.shape} {b.dtype}")
    if a.ndim not in (2, 3) or min(a.shape[:2]) < 11:
        raise UsageError(f"images: expected (H, W) or (H, W, C) with H, W >= 11, got {a.shape}")
    if a.dtype == np.uint8:
        data_range = 255.0
    elif np.issubdtype(a.dtype, np.floating):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise UsageError("images: contain NaN or infinite values")
        data_range = 1.0
    else:
        raise UsageError(f"images: expected uint8 or float arrays, got {a.dtype}")
    mean, full = structural_similarity(
        a.astype(np.float64), b.astype(np.float64), data_range=data_range, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=-1 if a.ndim == 3 else None, full=True,
    )
    if mask is None:
        return float(mean)
    m = np.asarray(mask, dtype=bool)
    if m.shape != a.shape[:2]:
        raise UsageError(f"mask: expected shape {a.shape[:2]}, got {m.shape}")
    inner = np.zeros_like(m)
    inner[_PAD:-_PAD, _PAD:-_PAD] = True  # as skimage's mean: the window must fit inside the image
    m = m & inner
    if not m.any():
        raise UsageError("mask: no pixel selected at least 5 pixels inside the image border")
    smap = full.mean(-1) if a.ndim == 3 else full
    return float(smap[m].mean())
