from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests.tiny import tiny_emotionnet

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


@pytest.fixture(scope="session")
def tiny_model() -> torch.nn.Module:
    """:func:`tests.tiny.tiny_emotionnet`, made once a session (tests must not train or change it)."""
    return tiny_emotionnet()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`tests.tiny.tiny_emotionnet` saved as a checkpoint folder (model.safetensors and config.json)."""
    folder = tmp_path_factory.mktemp("tiny-checkpoint")
    tiny_emotionnet().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """:func:`tests.tiny.tiny_emotionnet`, fresh for each test module (a module may change it; another module
    with a model of its own defines its own ``model``)."""
    return tiny_emotionnet()


@pytest.fixture(scope="session")
def face_checkpoint(tiny_checkpoint: Path) -> Path:
    """:func:`tiny_checkpoint` for runs on photos and videos: skips without the video extra (PyAV)."""
    pytest.importorskip("av", reason='the video extra: pip install "smm-emotionnet[video]"')
    return tiny_checkpoint


@pytest.fixture(scope="session")
def submission_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model with the challenge's twelve AUs (and AU5 unlabelled), saved: the weights file of a checkpoint."""
    import smm
    from smm.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = smm.SMMEmotionNet(
        "resnet18",
        num_regions=13,
        num_labelled=12,
        region_names=(*smm.ABAW3.au_names, "AU5"),
        dim=8,
        nhead=2,
        dim_feedforward=16,
    )
    folder = tmp_path_factory.mktemp("submission-ckpt")
    save_checkpoint(model.eval(), folder)
    return folder / "model.safetensors"
