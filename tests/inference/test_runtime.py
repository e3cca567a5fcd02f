"""Precision and layout chosen for the machine: each branch forced, and bf16 / channels_last against fp32."""

from __future__ import annotations

import pytest
import torch

import smm
from smm.inference.machine import cpu_supports_bf16
from smm.inference.runtime import autocast_dtype, resolve_precision, use_channels_last

AVX512_BF16 = frozenset({"avx512f", "avx512_bf16"})
AMX = frozenset({"amx_tile", "amx_bf16"})
AVX2 = frozenset({"avx2", "fma"})


def test_auto_precision_follows_the_cpu_flags() -> None:
    assert cpu_supports_bf16(AVX512_BF16)
    assert cpu_supports_bf16(AMX)
    assert not cpu_supports_bf16(AVX2)
    assert not cpu_supports_bf16(frozenset())
    assert resolve_precision("auto", "cpu", flags=AVX512_BF16) == "bf16"
    assert resolve_precision("auto", "cpu", flags=AMX) == "bf16"
    assert resolve_precision("auto", "cpu", flags=AVX2) == "fp32"  # never slower than fp32 on a CPU without bf16
    assert resolve_precision("fp32", "cpu", flags=AMX) == "fp32"  # an explicit choice wins
    assert resolve_precision("bf16", "cpu", flags=AVX2) == "bf16"
    with pytest.raises(ValueError, match="precision 'fp16' needs a CUDA device"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16', 'fp16', 'auto'\), got 'half'"):
        resolve_precision("half", "cpu")
    assert autocast_dtype("bf16") is torch.bfloat16
    assert autocast_dtype("fp32") is None


def test_auto_precision_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert resolve_precision("auto", "cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert resolve_precision("auto", "cuda") == "fp32"
    assert not use_channels_last("bf16", "cuda")
    assert use_channels_last("bf16", "cpu")


@pytest.mark.parametrize(
    ("capability", "fp32_channels_last"),
    [("AMX", True), ("AVX512_BF16", True), ("AVX512", True), ("AVX2", True), ("DEFAULT", False), ("NEON", False),
     ("SVE256", False)],
)  # fmt: skip
def test_channels_last_follows_the_cpu_capability(
    monkeypatch: pytest.MonkeyPatch, capability: str, fp32_channels_last: bool
) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert use_channels_last("fp32", "cpu") is fp32_channels_last
    assert use_channels_last("bf16", "cpu")  # bf16 on a CPU always runs channels_last
    assert not use_channels_last("fp32", "cuda")


@pytest.fixture(scope="module")
def model() -> smm.SMMEmotionNet:
    torch.manual_seed(0)
    return smm.SMMEmotionNet("resnet18", num_regions=6, num_labelled=4, dim=8, nhead=2, dim_feedforward=32).eval()


def test_bf16_channels_last_stays_close_to_fp32(model: smm.SMMEmotionNet) -> None:
    images = torch.randn(4, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = model(images.contiguous(memory_format=torch.channels_last))
        layout = model(images.contiguous(memory_format=torch.channels_last))
    for name in ("au", "expr", "va", "au_features", "message"):
        ours, theirs = getattr(fast, name).float(), getattr(reference, name)
        scale = theirs.abs().max().clamp_min(1)
        assert (ours - theirs).abs().max() / scale < 0.05, name  # bf16 keeps 8 bits of mantissa
        torch.testing.assert_close(getattr(layout, name), theirs, atol=1e-4, rtol=1e-4, msg=name)  # layout is exact


def test_predict_frames_precision_option(model: smm.SMMEmotionNet) -> None:
    frames = [torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    fp32 = smm.inference.frames.predict_frames(model, frames, precision="fp32")
    bf16 = smm.inference.frames.predict_frames(model, frames, precision="bf16")
    assert not torch.equal(fp32.au_prob, bf16.au_prob)
    assert (fp32.au_prob - bf16.au_prob).abs().max() < 0.05
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.stack(frames)).au)
    torch.testing.assert_close(fp32.au_prob, expected, atol=1e-5, rtol=1e-4)


def test_precision_is_resolved_once_and_applied_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    from smm.inference.runtime import Precision

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")  # no AVX2: NCHW in fp32
    bf16 = Precision.resolve("auto", "cpu", flags=frozenset({"avx512_bf16"}))
    assert (bf16.name, bf16.dtype, bf16.channels_last, str(bf16)) == (
        "bf16",
        torch.bfloat16,
        True,
        "bf16, channels_last",
    )
    fp32 = Precision.resolve("auto", "cpu", flags=frozenset())
    assert (fp32.name, fp32.dtype, fp32.channels_last) == ("fp32", None, False)
    assert str(fp32) == "fp32"
    assert Precision.resolve(bf16, "cpu") is bf16  # already resolved for this device type: kept
    cuda_fp16 = Precision("fp16", torch.device("cuda"), False)
    with pytest.raises(ValueError, match=r"^precision 'fp16' needs a CUDA device; use 'bf16' or 'auto' on a CPU$"):
        Precision.resolve(cuda_fp16, "cpu")  # another device type: resolved again, by its name
    assert Precision.resolve("auto", "meta").name == "fp32"  # neither CPU nor CUDA
    assert autocast_dtype("fp16") is torch.float16
    images = torch.randn(2, 3, 8, 8)
    assert bf16.inputs(images).is_contiguous(memory_format=torch.channels_last)
    assert not bf16.inputs(images).is_contiguous()
    assert fp32.inputs(images).is_contiguous()
    torch.testing.assert_close(bf16.inputs(images), images)
    with bf16.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with fp32.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    model = torch.nn.Conv2d(3, 4, 3)
    assert fp32.prepare_model(model).weight.is_contiguous()
    assert bf16.prepare_model(model).weight.is_contiguous(memory_format=torch.channels_last)


def test_given_flags_decide_bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    import smm.inference.machine

    monkeypatch.setattr(smm.inference.machine, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert cpu_supports_bf16()  # no flags given: the machine's
    monkeypatch.setattr(smm.inference.machine, "cpu_flags", lambda: frozenset({"avx2"}))
    assert not cpu_supports_bf16()
    assert cpu_supports_bf16(frozenset({"amx_bf16"}))
    assert cpu_supports_bf16(frozenset({"avx2", "avx512_bf16"}))
    assert not cpu_supports_bf16(frozenset({"avx2", "avx512f"}))
    assert not cpu_supports_bf16(frozenset())  # whatever this machine has
    assert resolve_precision("auto", "cpu", flags=frozenset()) == "fp32"


def test_int8_products_saturate_on_x86_cpus_without_vnni(monkeypatch: pytest.MonkeyPatch) -> None:
    import smm.inference.machine
    from smm.inference.machine import cpu_int8_saturates

    # Flag lists as /proc/cpuinfo gives them (abridged): an AVX2-only EPYC, an AVX512 CPU without VNNI,
    # CPUs with AVX512-VNNI, AVX-VNNI or AMX, and an ARM CPU (its "Features" line has no x86 flags).
    x86 = {"fpu", "sse2", "avx", "avx2", "fma"}
    assert cpu_int8_saturates(frozenset(x86))
    assert cpu_int8_saturates(frozenset({*x86, "avx512f", "avx512bw"}))
    assert not cpu_int8_saturates(frozenset({*x86, "avx512f", "avx512_vnni"}))
    assert not cpu_int8_saturates(frozenset({*x86, "avx_vnni"}))
    assert not cpu_int8_saturates(frozenset({*x86, "amx_int8", "amx_tile"}))
    assert not cpu_int8_saturates(frozenset({"fp", "asimd", "asimddp", "sve"}))
    assert not cpu_int8_saturates(frozenset())  # nothing known: no 7-bit weights
    monkeypatch.setattr(smm.inference.machine, "cpu_flags", lambda: frozenset(x86))
    assert cpu_int8_saturates()  # no flags given: the machine's
    monkeypatch.setattr(smm.inference.machine, "cpu_flags", lambda: frozenset({*x86, "avx512_vnni"}))
    assert not cpu_int8_saturates()
