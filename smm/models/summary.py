"""A model described in a few lines: its configuration, preprocessing and parameter counts (``smm-emotionnet info``)."""

from __future__ import annotations

from torch import nn

from smm.models.emotionnet import SMMEmotionNet


def parameter_count(module: nn.Module | None) -> int:
    """The number of parameters of ``module`` (0 for ``None``)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def model_summary(model: SMMEmotionNet) -> list[str]:
    """Lines describing ``model``: backbone and stage, regions, AUs, expressions, input, parameters per part."""
    config = model.config
    lines = [
        f"backbone {config.backbone}, feature stage {config.feature_index}, C={model.feature_channels}",
        f"regions U={model.num_regions}: {', '.join(model.region_names)}",
        f"labelled AUs H={len(model.au_names)}, D={model.roi_embedding.dim}",
        f"expressions: {', '.join(model.expression_names)}",
        f"input {config.input_size}, mean {config.mean}, std {config.std}, {config.interpolation} "
        f"({config.crop_mode}, crop_pct {config.crop_pct})",
    ]
    parts = {
        "backbone": model.backbone,
        "roi_attention": model.roi_attention,
        "roi_embedding": model.roi_embedding,
        "sign_vehicle": model.sign_vehicle,
        "message_space": model.message_space,
    }
    lines += [f"{name:14s} {parameter_count(part):>12,d} parameters" for name, part in parts.items()]
    lines.append(f"{'total':14s} {parameter_count(model):>12,d} parameters")
    return lines


__all__ = ["model_summary", "parameter_count"]
