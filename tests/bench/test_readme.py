"""The README's figures are the ones the scripts wrote: regenerating them changes nothing."""
from bench import readme


def test_readme_figures_match_the_result_files():
    current = readme.README.read_text()
    assert readme.BLOCK.search(current), "README has no generated blocks"
    assert readme.render(current) == current, "README is out of date: run python -m bench.readme"


def test_render_replaces_only_the_block():
    text = "intro\n<!-- BEGIN generated:models -->\nstale figure\n<!-- END generated:models -->\noutro\n"
    rendered = readme.render(text)
    assert "stale figure" not in rendered
    assert rendered.startswith("intro\n<!-- BEGIN generated:models -->\n| model |")
    assert rendered.endswith("<!-- END generated:models -->\noutro\n")
