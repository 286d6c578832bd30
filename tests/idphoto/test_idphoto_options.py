"""IdPhotoOptions: what a form or command line typed, checked once into typed values."""
import pytest

from ml.idphoto.options import IdPhotoOptions, OptionError
from ml.idphoto.presets import get_preset


def test_raw_values_become_typed_options():
    options = IdPhotoOptions.parse("us-passport", background="#dcdcdc", dpi="600", layout="sheet-4x6",
                                   max_kb="300", gap_mm="2.5", face="2", head_mm="30")
    assert options.preset == get_preset("us-passport") and (options.dpi, options.max_kb, options.gap_mm) == (600, 300, 2.5)
    assert (options.background.hex, options.background.name, options.face) == ("#DCDCDC", "light-grey", 2)
    assert options.adjust.head_mm == 30 and options.layout == "sheet-4x6"


def test_left_out_values_take_the_documents_own():
    options = IdPhotoOptions.parse("eu-passport", "", None, "", "", "", "")
    assert (options.dpi, options.layout, options.max_kb, options.gap_mm, options.face, options.adjust) == \
        (300, "single", None, None, None, None)
    assert options.background.name == get_preset("eu-passport").backgrounds[0]


@pytest.mark.parametrize("values, option", [({"preset": "nowhere"}, "preset"), ({"background": "navy"}, "background"),
                                            ({"dpi": "9999"}, "dpi"), ({"layout": "poster"}, "layout"),
                                            ({"max_kb": "lots"}, "max_kb"), ({"gap_mm": "50"}, "gap_mm"),
                                            ({"face": "0"}, "face"), ({"head_mm": "big"}, "head_mm")])
def test_a_refused_value_names_its_option(values, option):
    with pytest.raises(OptionError) as info:
        IdPhotoOptions.parse(**values)
    assert info.value.option == option
