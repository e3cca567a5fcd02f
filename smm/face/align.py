"""Five-point face alignment in torch: a least-squares similarity transform to a template, then ``grid_sample``.

Batched and device-agnostic: B faces from B images (or from fewer images, by index) are
warped in one ``grid_sample`` call. The result is like Aff-Wild2's cropped-aligned frames, a
112 x 112 face with the eyes, nose and mouth corners at the template's points; the model's
data config then resizes it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: Where the five landmarks (left eye, right eye, nose tip, left and right mouth corners)
#: land in a 112 x 112 crop: the widely used 112 x 112 face-recognition template, whose face
#: fills the crop about as Aff-Wild2's cropped-aligned frames do. Pass ``template=`` to
#: :func:`align_faces` to use another (scaled with ``size``).
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def similarity_transform(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) from ``source`` to ``target``.

    Parameters
    ----------
    source : Tensor[B, P, 2]
        Points, e.g. detected landmarks.
    target : Tensor[P, 2] or Tensor[B, P, 2]

    Returns
    -------
    Tensor[B, 2, 3]
        ``M`` with ``target ≈ source @ M[:, :, :2].T + M[:, :, 2]``.
    """
    source = source.to(torch.float64)
    target = target.to(source).expand_as(source)
    mu_s, mu_t = source.mean(1, keepdim=True), target.mean(1, keepdim=True)
    s, t = source - mu_s, target - mu_t
    # With points as complex numbers z, the best similarity is w -> a w + b, a = sum(conj(z) w) / sum(|z|^2).
    zs = torch.complex(s[..., 0], s[..., 1])
    zt = torch.complex(t[..., 0], t[..., 1])
    a = (zs.conj() * zt).sum(1) / (zs.abs() ** 2).sum(1).clamp_min(1e-12)
    rotation = torch.stack([torch.stack([a.real, -a.imag], -1), torch.stack([a.imag, a.real], -1)], -2)
    shift = mu_t[:, 0] - (rotation @ mu_s[:, 0, :, None])[..., 0]
    return torch.cat([rotation, shift[..., None]], -1)


def align_faces(
    images: torch.Tensor,
    landmarks: torch.Tensor,
    *,
    index: torch.Tensor | None = None,
    size: int = 112,
    template: np.ndarray | torch.Tensor = TEMPLATE_112,
) -> torch.Tensor:
    """Warp each face so that its landmarks land on the template.

    Parameters
    ----------
    images : Tensor[N, C, H, W]
        Float images (any range; values are interpolated as they are).
    landmarks : Tensor[B, 5, 2]
        ``(x, y)`` pixel coordinates of each face's five landmarks in its image.
    index : Tensor[B] of int64, optional
        The image of each face; default ``arange(B)`` (one face per image).
    size : int, default 112
        Side of the aligned crop; the template is scaled from 112 to it.
    template : array (5, 2), default :data:`TEMPLATE_112`

    Returns
    -------
    Tensor[B, C, size, size]
        Bilinear samples, zeros outside the image.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if landmarks.ndim != 3 or landmarks.shape[1:] != (5, 2):
        raise ValueError(f"landmarks must be (B, 5, 2), got shape {tuple(landmarks.shape)}")
    faces = landmarks.shape[0]
    index = torch.arange(faces, device=images.device) if index is None else index.to(images.device)
    if index.shape != (faces,):
        raise ValueError(f"index must have one image per face, shape ({faces},), got {tuple(index.shape)}")
    height, width = images.shape[-2:]
    target = torch.as_tensor(np.asarray(template, dtype=np.float32)) * (size / 112.0)
    # The transform from crop pixels back to image pixels: the inverse similarity.
    to_image = similarity_transform(target.expand(faces, 5, 2), landmarks.detach().cpu())
    # grid_sample works in [-1, 1] coordinates (align_corners=False): pixel centre p -> (2p + 1) / n - 1.
    crop = torch.arange(size, dtype=torch.float64) + 0.5
    ys, xs = torch.meshgrid(crop, crop, indexing="ij")
    points = torch.stack([xs, ys], -1).reshape(1, -1, 2) - 0.5  # pixel coordinates of crop pixels
    mapped = points @ to_image[:, :, :2].transpose(1, 2) + to_image[:, None, :, 2]
    grid = torch.stack([(2 * mapped[..., 0] + 1) / width - 1, (2 * mapped[..., 1] + 1) / height - 1], -1)
    grid = grid.reshape(faces, size, size, 2).to(device=images.device, dtype=images.dtype)
    return F.grid_sample(images[index], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
