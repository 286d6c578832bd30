"""The README's figures are the ones the scripts wrote: regenerating them changes nothing."""
import json

import pytest

from bench import readme


@pytest.mark.parametrize("document", readme.DOCUMENTS, ids=lambda path: path.name)
def test_document_figures_match_the_result_files(document):
    current = document.read_text()
    assert readme.BLOCK.search(current), f"{document.name} has no generated blocks"
    assert readme.render(current) == current, f"{document.name} is out of date: run python -m bench.readme"


def test_render_replaces_only_the_block():
    text = "intro\n<!-- BEGIN generated:models -->\nstale figure\n<!-- END generated:models -->\noutro\n"
    rendered = readme.render(text)
    assert "stale figure" not in rendered
    assert rendered.startswith("intro\n<!-- BEGIN generated:models -->\n| model |")
    assert rendered.endswith("<!-- END generated:models -->\noutro\n")


def test_a_block_whose_benchmark_never_ran_says_so():
    renderer = readme.from_results("never-measured.json", lambda report: "a table")
    assert renderer() == "_Not measured yet: `bench/results/never-measured.json` is missing._\n"
    assert readme.from_results("peers.json", lambda report: report["date"])() == readme._load(
        readme.RESULTS / "peers.json")["date"]


@pytest.mark.parametrize("training, shown", [
    ({"best_epoch": 20}, "20"),
    ({"averaged": ["a.keras", "b.keras", "c.keras"]}, "mean of 3"),
    ({"averaged": ["a.keras", "a.keras", "b.keras"]}, "weighted mean of 2"),
])
def test_the_models_table_says_which_weights_were_published(training, shown):
    assert readme._published_epoch(training) == shown


def test_the_halo_is_compared_with_the_cut_outs_of_when_issue_15_was_filed(monkeypatch, tmp_path):
    def scored(band: float, sad: float) -> dict:
        return {"band_colour": band, "sad": sad}

    baseline = {"model": "sinet", "command": "python -m bench.edges --model sinet", "date": "2026-11-30",
                "scores": {"guided (today)": scored(20.0, 4.0)}}
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    monkeypatch.setattr(readme, "EDGES_AT_ISSUE_15", tmp_path / "baseline.json")
    monkeypatch.setattr(readme, "MATTING_ON_BY_DEFAULT", False)
    report = {"model": "mobile-unet", "command": "python -m bench.edges", "date": "2026-12-08", "images": 40,
              "subset": "test", "scores": {"guided (today)": scored(13.0, 2.2), "matting": scored(9.0, 1.8)}}
    text = readme.render_edges_baseline(report)
    assert "| mobile-unet, guided filter (the default) | 13.00 | 2.200 | 65 % / 55 % |" in text
    assert "| mobile-unet, matting (`--matting`) | 9.00 | 1.800 | 45 % / 45 % |" in text
    monkeypatch.setattr(readme, "MATTING_ON_BY_DEFAULT", True)
    assert "| mobile-unet, matting (`--matting`) (the default) |" in readme.render_edges_baseline(report)
    monkeypatch.setattr(readme, "EDGES_AT_ISSUE_15", readme.RESULTS / "no_such_results.json")
    assert "Not measured yet" in readme.render_edges_baseline(report)
