"""bench.latency's estimate for a real AVX2-only CPU and how README renders the figures timed with
AVX-512 hidden."""
import pytest

from bench import latency, readme


def timings(call_ms: dict[str, float], end_ms: dict[str, float], model: str = "mobile-unet") -> dict:
    """A results file cut down to what the scaling reads: one model, its calls and end-to-end medians."""
    return {"model_call_ms": {size: {model: ms} for size, ms in call_ms.items()},
            "pipeline": {model: {size: {"end_to_end": {"median": ms}} for size, ms in end_ms.items()}}}


def test_each_size_is_scaled_by_its_own_ratio_of_real_to_emulated():
    report = timings({"1": 12.0, "12": 12.6}, {"1": 110.0, "12": 600.0})
    real = timings({"1": 40.0, "12": 42.0}, {"1": 130.0, "12": 820.0})
    emulated = timings({"1": 36.0, "12": 35.0}, {"1": 117.0, "12": 660.0})
    scaled = latency.scale_to_real(report, real, emulated)["mobile-unet"]
    assert scaled["1"]["model_call_ms"] == pytest.approx(12.0 * 40 / 36, abs=0.05)
    assert scaled["12"]["model_call_ms"] == pytest.approx(12.6 * 42 / 35, abs=0.05)
    assert scaled["12"]["end_to_end_ms"] == pytest.approx(600 * 820 / 660, abs=0.05)
    assert scaled["12"]["end_to_end_ratio"] == pytest.approx(820 / 660, abs=0.001)


def test_only_models_and_sizes_timed_in_all_three_files_are_scaled():
    report = {"model_call_ms": {"1": {"mobile-unet": 12.0, "sinet": 3.0}, "4": {"mobile-unet": 12.0, "sinet": 3.0}},
              "pipeline": {"mobile-unet": {s: {"end_to_end": {"median": 100.0}} for s in ("1", "4")},
                           "sinet": {s: {"end_to_end": {"median": 90.0}} for s in ("1", "4")}}}
    real = timings({"1": 40.0, "4": 43.0}, {"1": 130.0, "4": 360.0})
    emulated = timings({"1": 36.0}, {"1": 117.0})
    assert {m: list(s) for m, s in latency.scale_to_real(report, real, emulated).items()} == {"mobile-unet": ["1"]}


def test_calibrating_needs_the_hidden_timing_and_existing_files(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        latency.main(["--calibrate", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert exited.value.code == 2 and "--hide-avx512" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        latency.main(["--hide-avx512", "--calibrate", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert exited.value.code == 2 and "no results file" in capsys.readouterr().err


def test_the_readme_caption_names_the_hidden_instruction_sets_and_the_estimate():
    report = readme._load(readme.RESULTS / "latency.json")
    hidden = {**report, "avx512_hidden": True, "memory": {},
              "instruction_sets": "AVX-512 and VNNI hidden from CPUID (bench/no_avx512.py)"}
    text = readme.render_latency(hidden)
    assert "`python -m bench.latency --hide-avx512`" in text and "VNNI hidden" in text
    assert "Memory:" not in text and "Scaled to" not in text
    plain = readme.render_latency({**report, "avx512_hidden": False})
    assert "`python -m bench.latency`" in plain and "hidden" not in plain

    entry = {"real": "bench/results/real.json", "real_machine": "Some CPU", "emulated": "bench/results/emulated.json",
             "models": {"mobile-unet": {"1": {"model_call_ms": 13.0, "model_call_ratio": 1.07,
                                               "end_to_end_ms": 140.0, "end_to_end_ratio": 1.12},
                                        "12": {"model_call_ms": 15.5, "model_call_ratio": 1.22,
                                               "end_to_end_ms": 740.0, "end_to_end_ratio": 1.24}}}}
    text = readme.render_latency({**hidden, "scaled_to_real_cpu": entry})
    assert "--calibrate bench/results/real.json bench/results/emulated.json" in text
    assert "model call about 13.0-15.5 ms, a 12 MP photo about 740 ms" in text
    assert "(calls x1.07-1.22, end to end x1.12-1.24)" in text and "`bench/results/real.json` (Some CPU)" in text
