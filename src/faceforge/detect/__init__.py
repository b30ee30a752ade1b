"""Face detection and dense landmarks with the MediaPipe models (Apache-2.0), run by LiteRT on the CPU.

One call::

    faces = detect_faces(read_image("photo.jpg"))          # [FaceLandmarks] largest face first
    faces[0].points_px                                     # (478, 3): 468 mesh + 2 x 5 iris points

The parts: :class:`FaceDetector` (BlazeFace short/full range) -> :class:`Detection`; :class:`FaceMesh` (face mesh +
iris; ``landmarks`` from a detection or box, ``track`` from the previous frame's landmarks) -> :class:`FaceLandmarks`.
Index tables (iris rows, eye corners, the iBUG-68 correspondences) are in :mod:`faceforge.detect.indices`.
"""

from faceforge.detect.detector import Detection, FaceDetector, FaceDetectorOptions
from faceforge.detect.faces import DetectFacesOptions, detect_faces, parse_bbox, select_by_bbox, select_largest
from faceforge.detect.mesh import EyeLandmarks, FaceLandmarks, FaceMesh, FaceMeshOptions
from faceforge.detect.roi import Roi

__all__ = [
    "DetectFacesOptions",
    "Detection",
    "EyeLandmarks",
    "FaceDetector",
    "FaceDetectorOptions",
    "FaceLandmarks",
    "FaceMesh",
    "FaceMeshOptions",
    "Roi",
    "detect_faces",
    "parse_bbox",
    "select_by_bbox",
    "select_largest",
]
