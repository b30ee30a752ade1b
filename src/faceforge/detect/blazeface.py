"""BlazeFace post-processing as pure functions: SSD anchors, box/keypoint decoding, weighted non-maximum suppression.

Model facts (MediaPipe ``face_detection_short_range.pbtxt`` / ``face_detection_full_range.pbtxt`` and
``face_detection.pbtxt``; Bazarevsky et al. 2019, "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs"):

- short range: 128x128 input, anchor strides (8, 16, 16, 16) with an interpolated-scale anchor per layer -> 2 anchors
  per cell on the 16x16 grid and 6 on the 8x8 grid (896 in all);
  full range: 192x192 input, one stride-4 layer without interpolated anchor -> 48x48 = 2304 anchors.
- fixed anchor size: every anchor has width = height = 1 (normalised), only its centre matters:
  ``((x + 0.5) / grid, (y + 0.5) / grid)``.
- regressors (N, 16): x-centre, y-centre, width, height, then 6 keypoints (x, y), in input pixels; centres and
  keypoints are offsets from the anchor centre (the scale options equal the input size, so ``value / S`` is normalised).
- classificators (N, 1): logits, clipped to [-100, 100], then the sigmoid.
- keypoints: 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre, 4 right ear tragion, 5 left ear tragion (the
  subject's right/left: in a non-mirrored photo keypoint 0 has the smaller x).
- NMS: "weighted" (blending) suppression with IoU threshold 0.3: each kept detection is the score-weighted mean of
  itself and every lower-scored box overlapping it by more than the threshold; its score stays the highest.
"""

from __future__ import annotations

import math

import numpy as np

NUM_KEYPOINTS = 6
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")


def ssd_anchor_centers(input_size: int, strides: tuple[int, ...], interpolated_anchor: bool) -> np.ndarray:
    """Centres of the SSD anchors, in the model's order.

    Args:
        input_size: side of the square model input in pixels.
        strides: stride of each anchor layer; consecutive layers with equal stride share one feature map.
        interpolated_anchor: each layer adds one anchor with the interpolated scale (MediaPipe's
            ``interpolated_scale_aspect_ratio > 0``), besides its aspect-ratio-1 anchor.
    Returns:
        (N, 2) float32 anchor centres (x, y), normalised to [0, 1].
    """
    per_layer = 2 if interpolated_anchor else 1
    centers: list[np.ndarray] = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        repeats = per_layer * (j - i)
        grid = math.ceil(input_size / strides[i])
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        cell = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centers.append(np.repeat(cell, repeats, axis=0))
        i = j
    return np.concatenate(centers).astype(np.float32)


def decode_detections(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_size: int, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode raw BlazeFace outputs into boxes, keypoints and scores above a threshold.

    Args:
        regressors: (N, 16) float32 raw box + keypoint regressors.
        logits: (N,) float32 raw scores.
        anchors: (N, 2) anchor centres from :func:`ssd_anchor_centers`.
        input_size: side S of the model input.
        min_score: keep detections with sigmoid score >= this.
    Returns:
        boxes (M, 4) x0, y0, x1, y1; keypoints (M, 6, 2); scores (M,): coordinates in tensor units ``[0, S]``
        (continuous, origin at the top-left corner).
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= min_score)
    reg = regressors[keep].astype(np.float64)
    anchor_t = anchors[keep].astype(np.float64) * input_size
    cx = reg[:, 0] + anchor_t[:, 0]
    cy = reg[:, 1] + anchor_t[:, 1]
    half_w, half_h = 0.5 * reg[:, 2], 0.5 * reg[:, 3]
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = reg[:, 4 : 4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + anchor_t[:, None, :]
    return boxes, keypoints, scores[keep]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box x0, y0, x1, y1 with (M, 4) boxes; (M,) float64, 0 for empty unions."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(union, dtype=np.float64), where=union > 0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted non-maximum suppression (MediaPipe's WEIGHTED algorithm, the BlazeFace paper's blending).

    Args:
        boxes: (M, 4) x0, y0, x1, y1.
        keypoints: (M, K, 2).
        scores: (M,).
        iou_threshold: boxes overlapping the current best by IoU > this are merged into it.
    Returns:
        boxes (D, 4), keypoints (D, K, 2), scores (D,), highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out_boxes, out_kps, out_scores = [], [], []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        idx = np.flatnonzero(remaining)
        members = idx[box_iou(boxes[i], boxes[idx]) > iou_threshold]
        members = np.union1d(members, [i])
        w = scores[members] / scores[members].sum()
        out_boxes.append(w @ boxes[members])
        out_kps.append(np.tensordot(w, keypoints[members], axes=1))
        out_scores.append(scores[i])
        remaining[members] = False
    k = keypoints.shape[1] if keypoints.ndim == 3 else NUM_KEYPOINTS
    if not out_scores:
        return np.zeros((0, 4)), np.zeros((0, k, 2)), np.zeros(0)
    return np.stack(out_boxes), np.stack(out_kps), np.asarray(out_scores)
