"""A straightforward per-region-loop implementation of the SMM heads: baseline and test oracle.

Written from the fixture README's description of the published forward pass, with
the published module names, so it loads reference state dicts directly. It is
deliberately naive: one small CNN per region called in a Python loop, each on its
own re-weighted copy of the feature map.
"""

from __future__ import annotations

import torch
from torch import nn

from smm.layers.positional import sinusoidal_encoding


class _Region(nn.Module):
    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.Conv1 = nn.Sequential(nn.Conv2d(in_channels, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.ReLU())
        self.Conv2 = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim), nn.ReLU())
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.Conv2(self.Conv1(x)).mean(dim=(2, 3)))


class _AUScorer(nn.Module):
    def __init__(self, dim: int, num_labelled: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, num_labelled)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return (s * self.fc.weight).sum(-1) + self.fc.bias


class LoopHeads(nn.Module):
    """Per-region loop heads; ``forward(x)`` returns a dict of every output."""

    def __init__(
        self,
        in_channels: int = 768,
        num_regions: int = 17,
        num_labelled: int = 12,
        dim: int = 16,
        nhead: int = 8,
        dim_feedforward: int = 1024,
        num_classes: int = 8,
        va_dim: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        u = num_regions
        self.num_labelled = num_labelled
        self.AU_attention_convs = nn.Sequential(
            nn.Conv2d(in_channels, 4 * u, 3, padding=1), nn.BatchNorm2d(4 * u), nn.ReLU(),
            nn.Conv2d(4 * u, u, 1), nn.BatchNorm2d(u), nn.ReLU(),
        )  # fmt: skip
        self.AU_attention_map_module = nn.Sequential(nn.Conv2d(u, u, 1), nn.Sigmoid())
        self.AU_attention_classification_module = nn.Sequential(nn.Conv2d(u, u, 1))
        self.AU_Metric_Modules = nn.ModuleList(_Region(in_channels, dim) for _ in range(u))
        self.register_buffer("pe", sinusoidal_encoding(u, dim), persistent=False)
        self.MHA = nn.TransformerEncoderLayer(
            dim, nhead, dim_feedforward, dropout=dropout, activation="gelu", batch_first=True
        )
        self.transformation_matrices = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(u))
        self.emotion_classifiers = nn.ModuleList(
            [_AUScorer(dim, num_labelled), nn.Linear(dim, num_classes), nn.Linear(dim, va_dim)]
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.AU_attention_convs(x)
        maps = self.AU_attention_map_module(hidden)
        logits = self.AU_attention_classification_module(hidden).mean(dim=(2, 3))
        regions = [module(x * (1 + maps[:, i : i + 1])) for i, module in enumerate(self.AU_Metric_Modules)]
        f = torch.stack(regions, dim=1)
        s = self.MHA(f + self.pe)[:, : self.num_labelled]
        au = self.emotion_classifiers[0](s)
        messages = torch.stack([t(f[:, i]) for i, t in enumerate(self.transformation_matrices)], dim=1)
        message = messages.mean(dim=1)
        return {
            "attention": maps,
            "attention_logits": logits,
            "region_features": f,
            "au": au,
            "au_features": s,
            "message": message,
            "expr": self.emotion_classifiers[1](message),
            "va": self.emotion_classifiers[2](message),
        }

    def reference_state_dict(self) -> dict[str, torch.Tensor]:
        """This module's weights under the published implementation's key names."""
        return dict(self.state_dict())
