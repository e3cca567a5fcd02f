"""Prediction engines: eager PyTorch and ONNX Runtime, the checked export cache, the int8 gate, and ``auto``'s
choice by measurement (faked timings: which engine wins is the test's to say), cached per model and machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import smm
from smm.inference import autotune, engines, graphs, runtime
from smm.inference.engines import (
    Candidate,
    EagerEngine,
    OnnxRuntimeEngine,
    candidates,
    describe_engine,
    make_engine,
    resolve_engine,
)
from smm.inference.graphs import Calibration, exported_graph
from smm.models.fingerprint import model_fingerprint
from tests.tiny import tiny_emotionnet

pytest.importorskip("onnxruntime", reason='the export extra: pip install "smm-emotionnet[export]"')
pytest.importorskip("onnxscript", reason='the export extra: pip install "smm-emotionnet[export]"')

BIG = autotune.AUTO_MIN_IMAGES  # a run large enough to time the engines
HUGE = 10**6  # one long enough to pay for making any graph


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def faces(model: smm.SMMEmotionNet) -> torch.Tensor:
    from smm.inference.calibration import calibration_faces

    return calibration_faces(model, limit=12)


def _fake_timing(monkeypatch: pytest.MonkeyPatch, rates: dict[str, float]) -> list[list[str]]:
    """``time_engines`` replaced by ``rates`` (images per second by label); returns the labels it was asked to time.

    A table that names ``eager bf16`` is a machine with bf16 units, one that names only other engines a machine
    without (an AVX2 CPU): the candidates, and ``"auto"``'s precision, follow the table, not the CPU that runs
    the tests. An empty table leaves the machine as it is.
    """
    asked: list[list[str]] = []
    if rates:
        units = "eager bf16" in rates
        monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: units)
        monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda flags=None: units)

    def timed(built: dict[str, object], batch: torch.Tensor, **_: object) -> dict[str, float]:
        asked.append(list(built))
        for engine in built.values():
            engine(batch)  # each candidate still runs on the batch
        return {label: rates[label] for label in built}

    monkeypatch.setattr(autotune, "time_engines", timed)
    return asked


def test_engines_are_checked_by_name_and_device() -> None:
    assert resolve_engine("eager", "cpu") == "eager"
    assert resolve_engine("auto", "cuda") == "auto"
    assert resolve_engine("onnxruntime-int8", "cpu") == "onnxruntime-int8"
    with pytest.raises(
        ValueError, match=r"^engine must be one of auto, eager, onnxruntime, onnxruntime-int8, got 'tensorrt'$"
    ):
        resolve_engine("tensorrt", "cpu")
    for name in ("onnxruntime", "onnxruntime-int8"):
        with pytest.raises(ValueError, match=rf"^engine '{name}' runs on the CPU, not on cuda; use engine='eager'$"):
            resolve_engine(name, "cuda")


def test_the_candidates_follow_the_device_the_precision_and_the_calibration(
    model: smm.SMMEmotionNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = lambda found: [c.label for c in found]  # noqa: E731
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(
        engines, "precision_setup", lambda precision, device: _Named("bf16" if precision == "auto" else precision)
    )
    assert labels(candidates(model)) == ["eager bf16", "eager fp32", "onnxruntime fp32"]  # the default first
    assert labels(candidates(model, calibration=object())) == [
        "eager bf16", "eager fp32", "onnxruntime fp32", "onnxruntime int8"
    ]  # fmt: skip
    assert labels(candidates(model, "fp32", calibration=object())) == ["eager fp32", "onnxruntime fp32"]
    assert labels(candidates(model, "bf16", calibration=object())) == ["eager bf16"]
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(engines, "precision_setup", lambda precision, device: _Named("fp32"))
    assert labels(candidates(model)) == ["eager fp32", "onnxruntime fp32"]  # no bf16 units: no eager bf16
    monkeypatch.setattr(engines, "_onnxruntime_installed", lambda: False)
    assert labels(candidates(model, calibration=object())) == ["eager fp32"]  # without the export extra
    heads = smm.SMMEmotionNet(None, feature_channels=32, dim=8, nhead=2, dim_feedforward=16)
    monkeypatch.setattr(engines, "_onnxruntime_installed", lambda: True)
    assert labels(candidates(heads, calibration=object())) == ["eager fp32"]  # ONNX Runtime runs whole models
    assert Candidate("onnxruntime-int8", "int8").label == "onnxruntime int8"
    assert candidates(heads)[0] == Candidate("eager", "fp32")
    assert candidates(model, calibration=object())[-1] == Candidate("onnxruntime-int8", "int8")
    # fp32 is native everywhere: with the default at bf16 on a machine said to lack bf16 units, fp32 stays.
    monkeypatch.setattr(engines, "precision_setup", lambda precision, device: _Named("bf16"))
    assert labels(candidates(model)) == ["eager bf16", "eager fp32", "onnxruntime fp32"]


def test_what_each_candidate_costs_to_make_follows_the_cache(model: smm.SMMEmotionNet, tmp_path: Path) -> None:
    """Eager costs nothing; a graph already in the cache (or refused there) is not made again; int8 needs the export."""
    faces = torch.zeros(2, 3, 64, 64)
    onnx, int8 = Candidate("onnxruntime", "fp32"), Candidate("onnxruntime-int8", "int8")
    assert engines._graph_made(model, Candidate("eager", "fp32"), None, tmp_path)
    assert not engines._graph_made(model, onnx, None, tmp_path)
    assert not engines._graph_made(model, int8, faces, tmp_path)
    assert not engines._graph_made(model, int8, None, tmp_path)  # no faces: no int8 graph to find
    export, quantise = engines.MAKING_COST["onnxruntime"], engines.MAKING_COST["onnxruntime-int8"]
    assert engines._making_cost(model, onnx, tmp_path) == export
    assert engines._making_cost(model, int8, tmp_path) == export + quantise
    exported = graphs.exported_path(model, cache=tmp_path)
    exported.parent.mkdir(parents=True)
    exported.touch()
    assert engines._graph_made(model, onnx, None, tmp_path)
    assert not engines._graph_made(model, int8, faces, tmp_path)  # the fp32 graph is not the int8 one
    assert engines._making_cost(model, onnx, tmp_path) == 0.0
    assert engines._making_cost(model, int8, tmp_path) == quantise
    quantized = graphs.quantized_path(model, faces, cache=tmp_path)
    quantized.parent.mkdir(parents=True)
    (quantized.parent / "refused.json").write_text("{}")
    assert engines._graph_made(model, int8, faces, tmp_path)  # refused once: known without quantising again
    (quantized.parent / "refused.json").unlink()
    quantized.touch()
    assert engines._graph_made(model, int8, faces, tmp_path)
    assert not engines._graph_made(model, int8, torch.ones(2, 3, 64, 64), tmp_path)  # other faces, other graph


def test_the_words_for_an_agreement_and_for_an_engine_of_ones_own() -> None:
    agreement = {"AU": 0.99, "EXPR": 0.98, "faces": 50, "VA_max": 0.0684}
    assert engines.describe_agreement(agreement) == (
        "agrees with fp32 on 99.0% of AU decisions and 98.0% of expressions of 50 real faces, VA within 0.068"
    )

    class Mine:  # a user's engine: a name and a call, nothing of ours
        name = "tensorrt fp16"

    assert describe_engine(Mine()) == "tensorrt fp16"  # type: ignore[arg-type]


def test_bf16_units_are_the_cpus_flags_or_the_gpus_word(monkeypatch: pytest.MonkeyPatch) -> None:
    has = engines._has_units
    for units in (True, False):
        monkeypatch.setattr(engines, "cpu_supports_bf16", lambda units=units: units)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, units=units, **k: not units)
        assert has("bf16", torch.device("cpu")) is units
        assert has("bf16", torch.device("cuda")) is (not units)  # the GPU's own answer, not the CPU's
        assert has("bf16", torch.device("meta")) is False  # neither
        for device in ("cpu", "cuda", "meta"):
            assert has("fp32", torch.device(device)) is True


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def test_auto_picks_the_fastest_and_caches_the_choice_by_model_and_machine(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_timing(monkeypatch, {"eager fp32": 3.0, "eager bf16": 7.0, "onnxruntime fp32": 9.5})
    picked = make_engine(model, "auto", workload=HUGE, cache=tmp_path)
    assert isinstance(picked, OnnxRuntimeEngine)
    default = candidates(model)[0].label  # eager at this machine's own precision
    other = "eager fp32" if default == "eager bf16" else "eager bf16"
    assert asked == [[default, other], ["onnxruntime fp32"]]  # the ready engines, then the graph made for this run
    assert picked.auto == "auto: 9.5 img/s vs eager bf16 7.0, eager fp32 3.0"
    assert describe_engine(picked) == "onnxruntime (fp32) (auto: 9.5 img/s vs eager bf16 7.0, eager fp32 3.0)"
    (stored,) = (tmp_path / "auto").iterdir()
    record = json.loads(stored.read_text())
    assert record["chosen"] == "onnxruntime fp32"
    assert record["model"] == model_fingerprint(model)
    assert record["machine"]["cpu"]
    assert record["machine"]["threads"] == torch.get_num_threads()
    # Later runs reuse it without timing, whatever their size.
    again = make_engine(model, "auto", workload=3, cache=tmp_path)
    assert isinstance(again, OnnxRuntimeEngine)
    assert again.auto.startswith("auto, measured earlier on this machine: 9.5 img/s")
    assert len(asked) == 2
    # Another model is timed anew ...
    other_model = tiny_emotionnet(seed=1)
    make_engine(other_model, "auto", workload=HUGE, cache=tmp_path)
    assert len(asked) == 4
    # ... and so is the same model on another machine (another thread count, CPU or library version), where
    # the graph made before is ready: all are timed in one round.
    real = engines.machine_key
    monkeypatch.setattr(engines, "machine_key", lambda device: {**real(device), "threads": 99})
    make_engine(model, "auto", workload=HUGE, cache=tmp_path)
    assert asked[-1] == [default, other, "onnxruntime fp32"]
    assert len(list((tmp_path / "auto").iterdir())) == 3


def test_a_graph_is_made_only_for_a_run_that_pays_for_it(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates = {"eager fp32": 10.0, "eager bf16": 20.0, "onnxruntime fp32": 30.0}
    asked = _fake_timing(monkeypatch, rates)
    # The export costs 200 images' worth of eager fp32: 20 s here. A run of 1000 images takes 50 s at the best
    # speed so far (20 img/s): 20 s is more than a quarter of it, so the graph is not made ...
    making = engines.MAKING_COST["onnxruntime"] / rates["eager fp32"]
    assert making == 20.0
    short = make_engine(model, "auto", workload=1000, cache=tmp_path)
    assert isinstance(short, EagerEngine)
    assert len(asked) == 1
    assert short.auto.endswith(
        "; onnxruntime fp32 not made (about 20 s, more than 25% of this run; a longer run makes it)"
    )
    assert not graphs.exported_path(model, cache=tmp_path).exists()
    # ... nor for another run of that size, which reuses the choice without timing ...
    assert make_engine(model, "auto", workload=1000, cache=tmp_path).auto.startswith("auto, measured earlier")
    assert len(asked) == 1
    # ... but a run of 1600 images (80 s, a quarter of which is 20 s) makes it, and times it.
    made = make_engine(model, "auto", workload=1600, cache=tmp_path)
    assert isinstance(made, OnnxRuntimeEngine)
    assert len(asked) == 3
    assert asked[1] == asked[0]  # the eager engines timed again ...
    assert asked[2] == ["onnxruntime fp32"]  # ... and the graph made for this run
    assert graphs.exported_path(model, cache=tmp_path).is_file()


def test_without_bf16_units_auto_weighs_eager_fp32_against_onnx_runtime(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An AVX2-only CPU (the ratios measured on one): eager bf16 is not a candidate, so never timed."""
    asked = _fake_timing(monkeypatch, {"eager fp32": 4.5, "onnxruntime fp32": 6.3})
    picked = make_engine(model, "auto", workload=HUGE, cache=tmp_path)
    assert asked == [["eager fp32"], ["onnxruntime fp32"]]
    assert isinstance(picked, OnnxRuntimeEngine)
    assert picked.auto == "auto: 6.3 img/s vs eager fp32 4.5"
    # Where eager fp32 is the faster, it is kept at fp32 ("auto"'s precision on this machine).
    asked = _fake_timing(monkeypatch, {"eager fp32": 6.3, "onnxruntime fp32": 4.5})
    kept = make_engine(model, "auto", workload=HUGE, cache=tmp_path / "other")
    assert isinstance(kept, EagerEngine)
    assert kept.setup.name == "fp32"
    assert kept.auto == "auto: 6.3 img/s vs onnxruntime fp32 4.5"


def test_a_refused_engine_is_never_picked_and_says_why(
    model: smm.SMMEmotionNet, faces: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_timing(
        monkeypatch, {"eager fp32": 1.0, "eager bf16": 2.0, "onnxruntime fp32": 3.0, "onnxruntime int8": 100.0}
    )
    monkeypatch.setattr(graphs, "INT8_GATE", {"AU": 1.01, "EXPR": 0.0, "VA": 1e9})  # no int8 graph passes
    picked = make_engine(model, "auto", workload=HUGE, cache=tmp_path, calibration=Calibration.of(faces))
    assert all("onnxruntime int8" not in timed for timed in asked)  # refused before the timing
    assert isinstance(picked, OnnxRuntimeEngine)
    assert picked.name == "onnxruntime (fp32)"
    assert "onnxruntime int8 refused: the int8 graph falls short of fp32 on 6 real faces" in picked.auto
    assert "AU decisions agree on" in picked.auto
    assert "(needs 101%)" in picked.auto
    # An export that fails its check refuses both ONNX Runtime engines: eager wins.
    monkeypatch.setattr(graphs, "TOLERANCE", -1.0)
    fallback = make_engine(model, "auto", workload=HUGE, cache=tmp_path / "other")
    assert isinstance(fallback, EagerEngine)
    assert "onnxruntime fp32 refused: the ONNX export differs from eager PyTorch by" in fallback.auto
    with pytest.raises(ValueError, match=r"the ONNX export differs"):
        make_engine(model, "onnxruntime", cache=tmp_path / "other")  # asked by name, it raises


def test_a_corrupt_or_foreign_cache_file_is_ignored_in_one_line(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_timing(monkeypatch, {"eager fp32": 5.0, "eager bf16": 4.0, "onnxruntime fp32": 1.0})
    make_engine(model, "auto", workload=HUGE, cache=tmp_path)
    (stored,) = (tmp_path / "auto").iterdir()
    said: list[str] = []
    for text, reason in (
        ("{not json", "not JSON"),
        (json.dumps({"key": "another", "chosen": "eager fp32", "rates": {"eager fp32": 1}}), "it holds another"),
        (json.dumps({"key": stored.stem, "chosen": "tensorrt", "rates": {"tensorrt": 99}}), "'tensorrt' is not one"),
        (json.dumps({"key": stored.stem, "chosen": "eager fp32"}), "rates"),  # incomplete
    ):
        stored.write_text(text)
        engine = make_engine(model, "auto", workload=HUGE, cache=tmp_path, log=said.append)
        assert said[-1].startswith(f"note: the engine choice cached in {stored} is ignored (")
        assert reason in said[-1]
        assert said[-1].endswith("; timing the engines again")
        assert engine.auto.startswith("auto: ")  # measured again, never trusted
    assert len(said) == 4
    assert len(asked) == 2 + 4  # the first in two rounds (its graph made on the way), then one round each
    assert json.loads(stored.read_text())["key"] == stored.stem  # rewritten whole after each


def test_small_or_unknown_runs_are_not_timed_and_say_so(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_timing(monkeypatch, {})
    for workload, size in ((BIG - 1, f"{BIG - 1} image(s)"), (None, "an unknown number of images")):
        engine = make_engine(model, "auto", workload=workload, cache=tmp_path)
        assert isinstance(engine, EagerEngine)
        assert engine.setup == engines.precision_setup("auto", "cpu")  # the default: eager at its precision
        assert engine.auto == (f"auto: {size}, too few to time the engines (they are timed for runs of {BIG} or more)")
    assert asked == []
    assert not (tmp_path / "auto").exists()
    # A precision with one candidate only is not timed either.
    only = make_engine(model, "auto", precision="bf16", workload=BIG, cache=tmp_path)
    assert isinstance(only, EagerEngine)
    assert only.setup.name == "bf16"
    assert only.auto == "auto: the only engine here"
    assert asked == []


def test_a_run_shorter_than_ten_times_its_timing_is_not_timed(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_timing(monkeypatch, {})
    seconds = iter(range(1000))
    monkeypatch.setattr(autotune.time, "perf_counter", lambda: float(next(seconds)))  # every call takes 1 s
    engine = make_engine(model, "auto", workload=400, batch_size=16, cache=tmp_path)
    ready = len([c for c in candidates(model) if c.engine == "eager"])
    # 400 images at 16 a second: 25 s; timing the ready engines, 3 calls each: 3 s per engine.
    assert engine.auto == (
        f"auto: 400 image(s), about 25 s here, too few to time the engines (about {3 * ready} s, more than 10% of "
        "the run)"
    )
    assert isinstance(engine, EagerEngine)
    assert asked == []
    assert not (tmp_path / "auto").exists()  # nothing cached: a longer run times them


def test_the_timing_interleaves_and_keeps_each_engines_fastest_call() -> None:
    ticks = iter([0.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 9.0])  # a: 2 s then 1 s; b: 1 s then 5 s
    calls: list[str] = []
    rates = autotune.time_engines(
        {"a": lambda batch: calls.append("a"), "b": lambda batch: calls.append("b")},
        torch.zeros(4, 1),
        clock=lambda: next(ticks),
    )
    assert calls == ["a", "b", "a", "b", "a", "b"]  # one warm-up each, then the rounds interleaved
    assert rates == {"a": 4.0, "b": 4.0}  # 4 images in the fastest call: 1 s each
    with pytest.raises(ValueError, match=r"^rounds must be a positive integer, got 0$"):
        autotune.time_engines({}, torch.zeros(1), rounds=0)
    # A fast engine is timed for more rounds, until its calls add up to 0.2 s: 62.5 ms a call, four rounds.
    now = [0.0]

    def ticking() -> float:
        now[0] += 0.0625  # read twice a call: 62.5 ms between the two
        return now[0]

    calls.clear()
    autotune.time_engines({"a": lambda batch: calls.append("a")}, torch.zeros(1), clock=ticking)
    assert len(calls) == 1 + 4
    assert autotune.TIMING_SECONDS == 0.2


def test_a_built_engine_passes_through_and_refuses_a_precision_beside_it(model: smm.SMMEmotionNet) -> None:
    eager = EagerEngine(model, "fp32")
    assert make_engine(model, eager) is eager
    assert describe_engine(eager) == eager.name == f"eager ({eager.setup})"  # asked by name: no reason given
    eager.auto = "auto: 3.5 img/s"
    assert describe_engine(eager) == f"{eager.name} (auto: 3.5 img/s)"
    eager = EagerEngine(model, "fp32")
    with pytest.raises(ValueError, match=r"^precision='bf16' goes with an engine name; the engine given runs at"):
        make_engine(model, eager, precision="bf16")
    with pytest.raises(ValueError, match=r"engine 'onnxruntime-int8' needs real aligned faces to calibrate on"):
        make_engine(model, "onnxruntime-int8")


def test_fingerprint_changes_with_any_weight_or_the_config(model: smm.SMMEmotionNet) -> None:
    first = model_fingerprint(model)
    assert first == model_fingerprint(model)
    same = tiny_emotionnet(seed=0)
    assert model_fingerprint(same) == first  # the same weights from the same seed
    with torch.no_grad():
        same.message_space.va.bias[1] += 1e-6
    assert model_fingerprint(same) != first
    torch.manual_seed(0)
    other_size = smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=96)
    assert model_fingerprint(other_size) != first  # same weights, another input size


def test_onnxruntime_matches_eager_and_the_export_is_cached(
    model: smm.SMMEmotionNet, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ort = OnnxRuntimeEngine(model, cache=cache)
    assert ort.name == "onnxruntime (fp32)"
    inputs = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    au_features, message = ort(inputs)
    eager_features, eager_message = EagerEngine(model, "fp32")(inputs)
    assert au_features.shape == eager_features.shape == (5, 12, 8)
    torch.testing.assert_close(au_features, eager_features, atol=1e-4, rtol=0)
    torch.testing.assert_close(message, eager_message, atol=1e-4, rtol=0)
    # One folder per model (the module's other tests may have cached theirs), nothing staged.
    names = [p.name for p in cache.iterdir()]
    assert names.count(ort.path.parent.name) == 1
    assert [name for name in names if name.startswith(".")] == []
    assert ort.path.is_file()
    # The second time, nothing is exported.
    monkeypatch.setattr("smm.export.to_onnx", lambda *a, **k: pytest.fail("exported again"))
    assert exported_graph(model, cache=cache) == ort.path
    # The whole prediction path with either engine gives the same features.
    from smm.inference import image_features

    via_ort = image_features(model, list(inputs), ort, batch_size=2)
    via_eager = image_features(model, list(inputs), make_engine(model, "eager", precision="fp32"), batch_size=2)
    torch.testing.assert_close(via_ort[0], via_eager[0], atol=1e-4, rtol=0)


def test_a_graph_that_fails_its_check_is_not_cached(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphs, "TOLERANCE", -1.0)  # nothing passes
    with pytest.raises(ValueError, match=r"the ONNX export differs from eager PyTorch by .* use engine='eager'"):
        exported_graph(model, cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_engine_option_runs_onnxruntime(
    tmp_path: Path, model: smm.SMMEmotionNet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from smm.cli import main

    monkeypatch.setenv("SMM_EMOTIONNET_CACHE", str(tmp_path / "cache"))
    model.save_pretrained(tmp_path / "ckpt")
    frames = tmp_path / "clip"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for n in range(1, 5):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(frames / f"{n:05d}.jpg")
    values = {}
    for engine in ("eager", "onnxruntime"):
        out = tmp_path / engine
        args = ["predict", "--checkpoint", str(tmp_path / "ckpt"), "--frames", str(frames), "--tracks", "va"]
        assert main([*args, "--out", str(out), "--engine", engine, "--precision", "fp32"]) == 0
        assert f"engine: {'eager (fp32' if engine == 'eager' else 'onnxruntime (fp32)'}" in capsys.readouterr().err
        values[engine] = np.loadtxt(out / "VA" / "clip.txt", delimiter=",", skiprows=1)
    assert np.abs(values["eager"] - values["onnxruntime"]).max() <= 1e-4
    assert list((tmp_path / "cache" / "onnx").iterdir())  # the export went to the model cache
    monkeypatch.setenv("SMM_EMOTIONNET_ENGINE", "onnxruntime")  # the environment sets the default
    assert main([*args, "--out", str(tmp_path / "env")]) == 0
    assert "engine: onnxruntime (fp32)" in capsys.readouterr().err
    # auto on these four images: not timed, and it says so in the engine line.
    monkeypatch.setenv("SMM_EMOTIONNET_ENGINE", "auto")
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("engine: "))
    assert line.endswith(f"(auto: 4 image(s), too few to time the engines (they are timed for runs of {BIG} or more))")


def test_int8_is_calibrated_on_half_the_faces_and_checked_on_the_other_half(
    model: smm.SMMEmotionNet, faces: torch.Tensor, cache: Path
) -> None:
    import onnx
    import onnxruntime

    assert faces.shape == (12, 3, 64, 64)  # real faces from scikit-image, aligned and preprocessed
    with pytest.raises(
        ValueError, match=r"falls short of fp32 on 6 real faces it was not calibrated on: AU .*needs 101%"
    ):
        graphs.quantized_graph(model, faces, cache=cache, gate={"AU": 1.01, "EXPR": 0.0, "VA": 1e9})
    # The refusal is kept (no graph), and asking again says so at once, without quantising again.
    strict = {"AU": 1.01, "EXPR": 0.0, "VA": 1e9}
    refusal = graphs.quantized_path(model, faces, cache=cache, gate=strict).with_name("refused.json")
    assert refusal.is_file()
    assert not refusal.with_name("model.onnx").exists()
    assert json.loads(refusal.read_text())["reason"].startswith("the int8 graph falls short of fp32 on 6 real faces")
    with pytest.raises(ValueError, match=r"\(needs 101%\).* \(found so when it was made before\)$"):
        graphs.quantized_graph(
            model,
            lambda: pytest.fail("made again"),
            cache=cache,
            gate=strict,
            calibration_name=Calibration.of(faces).name,
        )
    with pytest.raises(ValueError, match=r"VA differs by up to [\d.]+ \(mean [\d.]+; allowed -1\)"):
        graphs.quantized_graph(model, faces, cache=cache, gate={"AU": 0.0, "EXPR": 0.0, "VA": -1.0})
    before = sorted(p.name for p in cache.iterdir())
    path = graphs.quantized_graph(model, faces, cache=cache, gate={"AU": 0.0, "EXPR": 0.0, "VA": 1e9})
    assert sorted(p.name for p in cache.iterdir()) == sorted({*before, path.parent.name})  # the refused left none
    record = json.loads((path.parent / "agreement.json").read_text())
    # The recorded agreement, recomputed here from both graphs on the faces the int8 graph was not calibrated on.
    runs = []
    for graph in (exported_graph(model, cache=cache), path):
        session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        runs.append(session.run(["au", "expr", "va"], {"images": faces[1::2].numpy()}))
    (au32, expr32, va32), (au8, expr8, va8) = runs
    assert record["AU"] == pytest.approx(float(((au32 > 0) == (au8 > 0)).mean()))
    assert record["EXPR"] == pytest.approx(float((expr32.argmax(-1) == expr8.argmax(-1)).mean()))
    assert record["VA_max"] == pytest.approx(float(np.abs(va32 - va8).max()), abs=1e-6)
    assert record["VA_mean"] == pytest.approx(float(np.abs(va32 - va8).mean()), abs=1e-6)
    assert (record["faces"], record["calibration_faces"]) == (6, 6)
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(path)).graph.node)
    with pytest.raises(ValueError, match=r"^a calibration function needs a calibration_name for the cache key$"):
        graphs.quantized_graph(model, lambda: faces, cache=cache)
    made = []

    def counted() -> torch.Tensor:
        made.append(1)
        return faces

    named = {"calibration_name": "twelve faces", "gate": {"AU": 0.0, "EXPR": 0.0, "VA": 1e9}}
    first = graphs.quantized_graph(model, counted, cache=cache, **named)
    assert graphs.quantized_graph(model, counted, cache=cache, **named) == first
    assert made == [1]  # the faces are made only when the graph is not cached
    with pytest.raises(ValueError, match=r"needs at least 2 faces \(half to calibrate, half to check\), got 1"):
        graphs.quantized_graph(model, faces[:1], cache=cache)


@pytest.mark.parametrize("saturates", [True, False], ids=["x86 without VNNI", "VNNI, AMX or not x86"])
def test_int8_weights_keep_7_bits_where_8_bit_products_saturate(
    model: smm.SMMEmotionNet, faces: torch.Tensor, cache: Path, monkeypatch: pytest.MonkeyPatch, saturates: bool
) -> None:
    import onnx
    from onnx import numpy_helper

    monkeypatch.setattr(graphs, "cpu_int8_saturates", lambda: saturates)
    accept = {"AU": 0.0, "EXPR": 0.0, "VA": 1e9}
    path = graphs.quantized_graph(model, faces, cache=cache, gate=accept)
    graph = onnx.load(str(path)).graph
    weights = [
        numpy_helper.to_array(t)
        for t in graph.initializer
        if t.data_type == onnx.TensorProto.INT8 and t.name in {i for n in graph.node for i in n.input}
        and any(n.op_type == "DequantizeLinear" and n.input[0] == t.name for n in graph.node)
    ]  # fmt: skip
    assert weights, "the graph has int8 weights"
    largest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    # Symmetric per-channel int8: each channel's largest weight is +-127 at 8 bits, +-63 or +-64 at 7.
    assert largest <= 64 if saturates else largest == 127
    assert json.loads((path.parent / "agreement.json").read_text())["weight_bits"] == (7 if saturates else 8)
    # The two kinds of graph are kept apart in the cache: another CPU kind gets its own.
    monkeypatch.setattr(graphs, "cpu_int8_saturates", lambda: not saturates)
    assert graphs.quantized_path(model, faces, cache=cache, gate=accept) != path


def _gated_model() -> smm.SMMEmotionNet:
    """A model whose int8 graph the gate accepts: decisions far from their thresholds, small VA."""
    model = tiny_emotionnet(seed=0)
    with torch.no_grad():
        model.sign_vehicle.au_bias.copy_(torch.tensor([4.0, -4.0] * 6))
        model.message_space.expr.bias.copy_(torch.tensor([6.0, 0, 0, 0, 0, 0, 0, 0]))
        model.message_space.va.weight.mul_(1e-2)
    return model


def _agree(got: smm.FramePredictions, fp32: smm.FramePredictions) -> None:
    """Decisions and VA of the engine ``auto`` picked against eager fp32's, by the gate's own measures."""
    seen = fp32.observed
    assert torch.equal(got.observed, seen)
    assert float((got.au[seen] == fp32.au[seen]).float().mean()) >= graphs.INT8_GATE["AU"]
    assert float((got.expr[seen] == fp32.expr[seen]).float().mean()) >= graphs.INT8_GATE["EXPR"]
    assert float((got.va[seen] - fp32.va[seen]).abs().max()) <= graphs.INT8_GATE["VA"]


def test_the_engine_auto_picked_agrees_with_fp32_on_real_faces_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """int8 timed fastest and accepted by its gate: photos, a video and the command line then run it, and their
    decisions and VA agree with eager fp32's within the gate's measures on real faces."""
    pytest.importorskip("av", reason="the video extra")
    from PIL import Image
    from skimage import data

    from smm.cli import main
    from smm.inference.calibration import face_calibration
    from tests.media import face_clips

    monkeypatch.setenv("SMM_EMOTIONNET_CACHE", str(tmp_path / "cache"))
    model = _gated_model()
    _fake_timing(monkeypatch, {"eager fp32": 1.0, "eager bf16": 2.0, "onnxruntime fp32": 3.0, "onnxruntime int8": 9.0})
    chosen = make_engine(model, "auto", workload=HUGE, calibration=face_calibration(model))
    assert chosen.name.startswith("onnxruntime (int8; agrees with fp32 on ")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    (video,) = face_clips(tmp_path / "in", 1, frames=6)
    auto = smm.predict_images(model, [photo])  # a small run: the choice measured above, without timing
    _agree(auto, smm.predict_images(model, [photo], engine="eager", precision="fp32"))
    assert bool(auto.observed.all())
    auto = smm.predict_video(model, video)
    _agree(auto, smm.predict_video(model, video, engine="eager", precision="fp32"))
    assert int(auto.observed.sum()) == 6
    model.save_pretrained(tmp_path / "ckpt")
    args = ["predict", "--checkpoint", str(tmp_path / "ckpt"), "--input", str(photo), str(video)]
    monkeypatch.setenv("SMM_EMOTIONNET_ENGINE", "auto")
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("engine: "))
    assert line.startswith("engine: onnxruntime (int8; agrees with fp32 on ")
    assert "(auto, measured earlier on this machine: 9.0 img/s vs onnxruntime fp32 3.0" in line
    assert main([*args, "--out", str(tmp_path / "fp32"), "--engine", "eager", "--precision", "fp32"]) == 0
    import csv

    for name in ("images.csv", f"{video.stem}.csv"):
        rows = [list(csv.DictReader((tmp_path / out / name).open())) for out in ("auto", "fp32")]
        assert len(rows[0]) == len(rows[1]) > 0
        decisions = [
            (float(got[au]) > 0.5) == (float(fp32[au]) > 0.5)
            for got, fp32 in zip(*rows, strict=True)
            for au in model.au_names
        ]
        assert sum(decisions) / len(decisions) >= graphs.INT8_GATE["AU"]
        for got, fp32 in zip(*rows, strict=True):
            assert got["expression"] == fp32["expression"]
            for key in ("valence", "arousal"):
                assert abs(float(got[key]) - float(fp32[key])) <= graphs.INT8_GATE["VA"]
