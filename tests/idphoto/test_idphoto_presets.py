"""Presets: pixel sizes at 300 DPI, sources present, custom sizes, background names."""
import pytest

from ml.idphoto.presets import (DocumentColour, PresetError, background_colours, custom_preset, get_preset, load_presets,
                                resolve_background, resolve_preset)

# Expected sizes worked out by hand: mm / 25.4 * 300, rounded.
EXPECTED_300DPI = {
    "eu-passport": (413, 531), "uk-passport": (413, 531), "schengen-visa": (413, 531),
    "au-passport": (413, 531), "us-passport": (600, 600), "us-visa": (600, 600),
    "ca-passport": (591, 827), "cn-1inch": (295, 413), "cn-2inch": (413, 579), "in-passport": (600, 600),
}


def test_every_issue_preset_exists_with_its_pixel_size():
    presets = load_presets()
    assert set(presets) == set(EXPECTED_300DPI)
    for pid, size in EXPECTED_300DPI.items():
        assert presets[pid].pixel_size(300) == size, pid


def test_pixel_size_follows_the_dpi():
    assert get_preset("us-passport").pixel_size(600) == (1200, 1200)
    assert get_preset("eu-passport").pixel_size(600) == (827, 1063)


def test_every_preset_names_its_source_and_valid_ranges():
    colours = background_colours()
    for preset in load_presets().values():
        assert len(preset.source) > 40, preset.id
        low, high = preset.head_mm
        assert 0 < low < high < preset.height_mm, preset.id
        assert all(b in colours for b in preset.backgrounds), preset.id
        if preset.eyes_from_bottom_mm:
            assert preset.eyes_from_bottom_mm[1] < preset.height_mm


def test_issue_rules_are_in_the_data():
    assert get_preset("eu-passport").head_mm == (32, 36)
    assert get_preset("ca-passport").head_mm == (31, 36)
    us = get_preset("us-passport")
    assert us.head_mm == pytest.approx((25.4, 34.9)) and us.eyes_from_bottom_mm == pytest.approx((28.6, 34.9))
    assert get_preset("us-visa").max_kb == 240


def test_background_presets():
    assert set(background_colours()) == {"white", "off-white", "light-grey", "light-blue", "red"}
    preset = get_preset("us-passport")
    assert resolve_background(None, preset) == DocumentColour((255, 255, 255), "white")
    assert resolve_background("red", preset).name == "red"
    grey = resolve_background("#dcdcdc", preset)
    assert (grey.hex, grey.name) == ("#DCDCDC", "light-grey")
    assert resolve_background("#123456", preset) == DocumentColour((0x12, 0x34, 0x56), None)
    with pytest.raises(PresetError, match="not one of"):
        resolve_background("purple", preset)


@pytest.mark.parametrize("size, expected", [("35x45mm", (413, 531)), ("600x800px", (600, 800)),
                                            ("2x2in", (600, 600)), ("40x50", (472, 591))])
def test_custom_sizes(size, expected):
    preset = custom_preset(size, 300)
    assert preset.pixel_size(300) == expected
    assert preset.head_mm == pytest.approx((0.7 * preset.height_mm, 0.8 * preset.height_mm))


@pytest.mark.parametrize("bad", ["", "35by45", "0x45mm", "3x3px", "900x900mm"])
def test_bad_custom_sizes_are_refused(bad):
    with pytest.raises(PresetError):
        custom_preset(bad)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(PresetError, match="eu-passport"):
        resolve_preset("mars-passport")
    with pytest.raises(PresetError, match="size"):
        resolve_preset("custom")


def test_every_preset_states_whether_software_may_replace_the_background():
    for preset in [*load_presets().values(), custom_preset("35x45mm")]:
        assert isinstance(preset.replace_background, bool), preset.id
        assert len(preset.background_rule) > 20, preset.id
    # the documents whose offices refuse edited photos (issue 12: an Australian photo was refused)
    assert not get_preset("au-passport").replace_background and not get_preset("uk-passport").replace_background
    assert get_preset("eu-passport").replace_background
