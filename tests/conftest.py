from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The shared fixture lives beside the checkout (../shared), in CI as on a developer's machine.
FIXTURE_DIR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "abaw3_reference"


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _eager_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line's --engine defaults to eager in tests (its values are compared with eager PyTorch's
    to 1e-6); tests of the engines choose theirs."""
    monkeypatch.setenv("SMM_EMOTIONNET_ENGINE", "eager")


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    if not FIXTURE_DIR.is_dir():
        pytest.skip(f"reference fixture not found at {FIXTURE_DIR} (expected ../shared beside the checkout)")
    return FIXTURE_DIR


@pytest.fixture(scope="session")
def reference_tensors(fixture_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(fixture_dir / "heads.safetensors")


@pytest.fixture(scope="session")
def reference_weights(reference_tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prefix = "weights."
    return {k[len(prefix) :]: v for k, v in reference_tensors.items() if k.startswith(prefix)}


@pytest.fixture(scope="session")
def _cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smm-cache")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch: pytest.MonkeyPatch, _cache_folder: Path) -> None:
    """Exported graphs and measured engine choices go to the session's own cache, never the user's
    (a choice measured there by a benchmark would change which engine "auto" runs in a test)."""
    monkeypatch.setenv("SMM_EMOTIONNET_CACHE", str(_cache_folder))


def tiny_emotionnet() -> torch.nn.Module:
    """The small model of the face and run tests: ResNet-18 heads of width 8 at 64 px, seeded, in eval mode."""
    import smm

    torch.manual_seed(0)
    return smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=64).eval()


@pytest.fixture(scope="session")
def tiny_model() -> torch.nn.Module:
    """:func:`tiny_emotionnet`, made once a session (tests must not train or change it)."""
    return tiny_emotionnet()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`tiny_emotionnet` saved as a checkpoint folder (model.safetensors and config.json)."""
    folder = tmp_path_factory.mktemp("tiny-checkpoint")
    tiny_emotionnet().save_pretrained(folder)
    return folder
