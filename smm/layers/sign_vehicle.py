"""Sign-vehicle space: the action units as seen by a transformer over regions (Figure 1, part II)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from smm._checks import check_choice, check_dim, check_ndim, check_positive, tracing
from smm.layers.init import uniform_fan_in_
from smm.layers.positional import sinusoidal_encoding

TOKENS = ("all", "labelled")


class SignVehicleOutput(NamedTuple):
    """What :class:`SignVehicleHead` returns.

    Attributes
    ----------
    logits : Tensor[B, H]
        AU occurrence logits; ``torch.sigmoid(logits)`` are probabilities.
    features : Tensor[B, H, D]
        Each labelled AU's vector in its sign-vehicle space, ``S_h``.
    """

    logits: torch.Tensor
    features: torch.Tensor


class SignVehicleHead(nn.Module):
    """Transform region features into the AU metric spaces and score each AU.

    Adds a sinusoidal positional encoding to the region features, runs a post-norm
    transformer encoder (GELU) over the regions, keeps the first H outputs as the AU
    features ``S_h`` and scores each with its own weight vector:
    ``logit_h = <W_h, S_h> + b_h``.

    Parameters
    ----------
    dim : int
        D, size of the region features; must be divisible by ``nhead``.
    num_regions : int
        U, number of regions in the input.
    num_labelled : int
        H <= U, number of labelled action units (the first H regions).
    nhead : int, default 8
        Attention heads.
    dim_feedforward : int, default 1024
        Hidden size of the transformer's feed-forward block.
    num_layers : int, default 1
        Transformer layers.
    dropout : float, default 0.1
        Dropout inside the transformer.
    input_dropout : float, default 0.3
        Dropout applied after adding the positional encoding.
    tokens : {"all", "labelled"}, default "all"
        Which region features enter the transformer: all U (the published code)
        or only the first H (the paper's Eq. 1). The output is the first H either way.

    Shape
    -----
    - Input ``f``: ``(B, U, D)``
    - Output: :class:`SignVehicleOutput` with logits ``(B, H)`` and features ``(B, H, D)``.
    """

    pe: torch.Tensor

    def __init__(
        self,
        dim: int,
        num_regions: int,
        num_labelled: int,
        *,
        nhead: int = 8,
        dim_feedforward: int = 1024,
        num_layers: int = 1,
        dropout: float = 0.1,
        input_dropout: float = 0.3,
        tokens: Literal["all", "labelled"] = "all",
    ) -> None:
        super().__init__()
        for value, name in (
            (dim, "dim"),
            (num_regions, "num_regions"),
            (num_labelled, "num_labelled"),
            (nhead, "nhead"),
            (dim_feedforward, "dim_feedforward"),
            (num_layers, "num_layers"),
        ):
            check_positive(value, name)
        if num_labelled > num_regions:
            raise ValueError(
                f"num_labelled must be <= num_regions (the labelled AUs are the first regions), "
                f"got num_labelled={num_labelled} > num_regions={num_regions}"
            )
        if dim % nhead:
            raise ValueError(f"dim must be divisible by nhead, got dim={dim}, nhead={nhead}")
        check_choice(tokens, "tokens", TOKENS)
        self.dim = dim
        self.num_regions = num_regions
        self.num_labelled = num_labelled
        self.tokens = tokens
        self.register_buffer("pe", sinusoidal_encoding(num_regions, dim), persistent=False)
        self.input_dropout = nn.Dropout(input_dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=dim,
            nhead=nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation="gelu",
            # Sequence-first keeps PyTorch off its fused inference kernel, whose fake
            # implementation breaks torch.compile (inductor) and torch.export; the math
            # is the same, and the tensors here are tiny.
            batch_first=False,
            norm_first=False,
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.au_weight = nn.Parameter(torch.empty(num_labelled, dim))
        self.au_bias = nn.Parameter(torch.empty(num_labelled))
        uniform_fan_in_(self.au_weight, dim)
        uniform_fan_in_(self.au_bias, dim)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Score AU features: ``logit_h = <W_h, S_h> + b_h``.

        Linear, so it may be applied to smoothed or averaged features too.

        Parameters
        ----------
        features : Tensor[..., H, D]

        Returns
        -------
        Tensor[..., H]
            AU logits.
        """
        return torch.einsum("...hd,hd->...h", features, self.au_weight) + self.au_bias

    def forward(self, f: torch.Tensor) -> SignVehicleOutput:
        """Compute AU logits and AU features.

        Parameters
        ----------
        f : Tensor[B, U, D]
            Region features.

        Returns
        -------
        SignVehicleOutput
            ``logits`` ``(B, H)``, ``features`` ``(B, H, D)``.
        """
        if not tracing():
            check_ndim(f, "f", "B U D")
            check_dim(f, "f", 1, self.num_regions, "regions")
            check_dim(f, "f", 2, self.dim, "features")
        if self.tokens == "labelled":
            f = f[:, : self.num_labelled]
        tokens = self.input_dropout(f + self.pe[: f.shape[1]].to(f.dtype))
        features = self.transformer(tokens.transpose(0, 1)).transpose(0, 1)[:, : self.num_labelled]
        return SignVehicleOutput(self.classify(features), features)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_regions={self.num_regions}, num_labelled={self.num_labelled}, tokens={self.tokens!r}"
        )
