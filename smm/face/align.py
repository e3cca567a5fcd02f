"""Five-point face alignment in torch: a least-squares similarity transform to a template, then ``grid_sample``.

Batched and device-agnostic: B faces from B float images (or from fewer images, by index) are
warped in one ``grid_sample`` call; of ``uint8`` frames, only the regions the crops read are
converted, and the faces are sampled together, one call per size class of region. The
similarity is fitted from the landmarks to the template (the standard direction). The result
is like Aff-Wild2's cropped-aligned frames, a 112 x 112 face with the eyes, nose and mouth
corners at the template's points; the model's data config then resizes it.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    images: torch.Tensor | Sequence[torch.Tensor],
    landmarks: torch.Tensor,
    *,
    index: torch.Tensor | None = None,
    size: int = 112,
    template: np.ndarray | torch.Tensor = TEMPLATE_112,
) -> torch.Tensor:
    """Warp each face so that its landmarks land on the template.

    Parameters
    ----------
    images : Tensor[N, C, H, W], or a sequence of N Tensor[C, H, W]
        Float images (any range; values are interpolated as they are), or integer (``uint8``)
        images, of which only the region each crop reads is converted to float32: memory then
        grows with the crops, not with the frames' size. A sequence (integer images only) is
        read frame by frame, without stacking the frames into one tensor.
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
        Bilinear samples, zeros outside the image; float32 for integer images, else the
        images' dtype.

    Notes
    -----
    The similarity is fitted from the landmarks to the template (least squares in the crop's
    pixels, as face-recognition pipelines align to this template), and the crop is sampled
    through its inverse. Fitting the other way (template to landmarks) gives the same
    transform only when the landmarks are an exact similarity of the template; on real faces
    the two differ by a few percent in scale.

    The faces of integer images are sampled together: each face's region (the pixels its
    crop reads, clipped to its image) is copied into a zero canvas of its size class (a power
    of two), and each class is sampled in one ``grid_sample`` call. Zeros beyond a region
    clipped by its image's border are the zeros outside the image, so the samples are those of
    the whole image.
    """
    stacked = isinstance(images, torch.Tensor)
    if stacked and images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if not stacked and any(not isinstance(image, torch.Tensor) or image.ndim != 3 for image in images):
        raise ValueError("images must be a tensor (N, C, H, W) or a sequence of (C, H, W) tensors")
    if landmarks.ndim != 3 or landmarks.shape[1:] != (5, 2):
        raise ValueError(f"landmarks must be (B, 5, 2), got shape {tuple(landmarks.shape)}")
    faces = landmarks.shape[0]
    first = images[0] if len(images) else None
    device = images.device if stacked else (first.device if first is not None else torch.device("cpu"))
    index = torch.arange(faces, device=device) if index is None else index.to(device)
    if index.shape != (faces,):
        raise ValueError(f"index must have one image per face, shape ({faces},), got {tuple(index.shape)}")
    if first is not None and first.is_floating_point() and not stacked:
        raise ValueError("float images must be one tensor (N, C, H, W)")
    target = torch.as_tensor(np.asarray(template, dtype=np.float32)) * (size / 112.0)
    # The standard fit: the similarity that takes the landmarks to the template (least squares
    # in the crop's pixels); the crop is sampled through its inverse, from crop to image pixels.
    to_crop = similarity_transform(landmarks.detach().cpu(), target)
    to_image = invert_similarity(to_crop)
    crop = torch.arange(size, dtype=torch.float64)
    ys, xs = torch.meshgrid(crop, crop, indexing="ij")
    points = torch.stack([xs, ys], -1).reshape(1, -1, 2)  # pixel coordinates (centres) of the crop's pixels
    mapped = points @ to_image[:, :, :2].transpose(1, 2) + to_image[:, None, :, 2]  # [B, size * size, 2]
    if stacked and images.is_floating_point():
        height, width = images.shape[-2:]
        return _sample(images[index], mapped, width, height, size)
    channels = images.shape[1] if stacked else (first.shape[0] if first is not None else 3)
    out = torch.zeros(faces, channels, size, size, dtype=torch.float32, device=device)
    if not faces:
        return out
    # Integer frames stay as they are; only the part of each frame a crop reads becomes floats.
    low = (mapped.amin(1).floor() - 1).to(torch.int64)  # [B, 2] x, y
    high = (mapped.amax(1).ceil() + 2).to(torch.int64)
    regions = []
    for face, image in enumerate(index.tolist()):
        height, width = images[image].shape[-2:]
        x0, y0 = (int(v) for v in low[face].clamp_min(0))
        x1, y1 = min(int(high[face, 0]), width), min(int(high[face, 1]), height)
        regions.append((image, x0, y0, max(x1, x0), max(y1, y0)))
    classes = [max(x1 - x0, y1 - y0, 1).bit_length() for _, x0, y0, x1, y1 in regions]
    for bits in sorted(set(classes)):
        members = [face for face, c in enumerate(classes) if c == bits]
        side = 1 << bits
        canvas = torch.zeros(len(members), channels, side, side, dtype=images[0].dtype, device=device)
        for slot, face in enumerate(members):
            image, x0, y0, x1, y1 = regions[face]
            canvas[slot, :, : y1 - y0, : x1 - x0] = images[image][:, y0:y1, x0:x1]
        corner = torch.tensor([[regions[face][1], regions[face][2]] for face in members], dtype=torch.float64)
        shifted = mapped[members] - corner[:, None, :]
        out[members] = _sample(canvas.to(torch.float32), shifted, side, side, size)
    return out


def pixels_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 pixels as a tensor that shares their memory, copied only when they are read-only (decoded frames
    can be) or not contiguous: torch cannot share those."""
    array = np.ascontiguousarray(pixels, dtype=np.uint8)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def invert_similarity(transform: torch.Tensor) -> torch.Tensor:
    """The inverse of ``Tensor[B, 2, 3]`` similarity (or any invertible affine) transforms."""
    linear = torch.linalg.inv(transform[:, :, :2])
    return torch.cat([linear, -(linear @ transform[:, :, 2:])], -1)


def _sample(images: torch.Tensor, mapped: torch.Tensor, width: int, height: int, size: int) -> torch.Tensor:
    """Bilinear samples of ``images[b]`` at ``mapped[b]`` pixel coordinates, zeros outside; ``[B, C, size, size]``."""
    # grid_sample works in [-1, 1] coordinates (align_corners=False): pixel centre p -> (2p + 1) / n - 1.
    grid = torch.stack([(2 * mapped[..., 0] + 1) / width - 1, (2 * mapped[..., 1] + 1) / height - 1], -1)
    grid = grid.reshape(-1, size, size, 2).to(device=images.device, dtype=images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def to_uint8(crops: torch.Tensor) -> torch.Tensor:
    """Aligned crops ``Tensor[N, 3, h, w]`` on a 0..255 scale -> ``Tensor[N, h, w, 3]`` uint8 (rounded), on the CPU.

    Rounded to 8 bits like Aff-Wild2's cropped-aligned JPEG frames, so a photo's face and the
    same face saved as a frame image reach the model identically.
    """
    return crops.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu()
