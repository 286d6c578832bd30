"""The README's figures are the ones the scripts wrote: regenerating them changes nothing."""
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
