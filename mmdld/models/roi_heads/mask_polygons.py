"""Instance masks to the polygons that text-spotting results report."""
import math
from typing import List

import cv2
import numpy as np


def box_polygon(bbox: np.ndarray) -> np.ndarray:
    """The 4-point polygon of a box, clockwise from the top-left corner.

    Args:
        bbox (np.ndarray): ``[x1, y1, x2, y2]``.

    Returns:
        np.ndarray: Flat float32 ``[x1, y1, x2, y1, x2, y2, x1, y2]``.
    """
    x1, y1, x2, y2 = [float(v) for v in bbox[:4]]
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float32)


def mask_to_polygon(mask: np.ndarray, bbox: np.ndarray, epsilon_ratio: float = 0.005) -> np.ndarray:
    """Polygon of the largest outer contour of a binary mask, simplified.

    The mask is cut to its box first (a full-image contour search per instance would cost
    O(H x W) each), the largest contour kept and simplified with Douglas-Peucker
    (``cv2.approxPolyDP``).

    Ours because MMDetection's ``bitmap_to_polygon`` returns every contour, unsimplified.

    Args:
        mask (np.ndarray): (H, W) bool/uint8 mask in image coordinates.
        bbox (np.ndarray): ``[x1, y1, x2, y2]`` box of the instance, in the same frame.
        epsilon_ratio (float): Simplification tolerance as a fraction of the contour length.

    Returns:
        np.ndarray: Flat float32 ``[x1, y1, ...]`` with at least 3 points; the box outline when
        the mask is empty inside the box.
    """
    h, w = mask.shape[:2]
    x1 = int(max(math.floor(float(bbox[0])) - 1, 0))
    y1 = int(max(math.floor(float(bbox[1])) - 1, 0))
    x2 = int(min(math.ceil(float(bbox[2])) + 1, w))
    y2 = int(min(math.ceil(float(bbox[3])) + 1, h))
    if x2 <= x1 or y2 <= y1:
        return box_polygon(bbox)
    crop = np.ascontiguousarray(mask[y1:y2, x1:x2]).astype(np.uint8)
    contours = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[-2]
    if len(contours) == 0:
        return box_polygon(bbox)
    contour = max(contours, key=cv2.contourArea)
    if len(contour) < 3 or cv2.contourArea(contour) <= 0:
        return box_polygon(bbox)
    approx = cv2.approxPolyDP(contour, epsilon_ratio * cv2.arcLength(contour, True), True)
    if len(approx) < 3:
        approx = contour
    pts = approx.reshape(-1, 2).astype(np.float32) + np.array([x1, y1], dtype=np.float32)
    return pts.reshape(-1)


def masks_to_polygons(masks: np.ndarray, bboxes: np.ndarray,
                      epsilon_ratio: float = 0.005) -> List[np.ndarray]:
    """:func:`mask_to_polygon` for every instance.

    Args:
        masks (np.ndarray): (N, H, W) masks; uint8 soft masks (0-255) are cut at 128.
        bboxes (np.ndarray): (N, 4) boxes.
        epsilon_ratio (float): See :func:`mask_to_polygon`.

    Returns:
        list[np.ndarray]: N flat float32 polygons.
    """
    if masks.dtype != np.bool_:
        masks = masks >= 128 if masks.dtype == np.uint8 else masks > 0.5
    return [mask_to_polygon(m, b, epsilon_ratio) for m, b in zip(masks, bboxes)]
