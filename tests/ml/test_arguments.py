"""ml.arguments: range checks shared by the CLIs answer with the reason, as argparse usage errors."""
import argparse

import pytest

from ml import arguments


def test_values_in_range_pass_through():
    assert (arguments.positive_int("3"), arguments.non_negative_float("0"), arguments.input_size("192")) == (3, 0.0, 192)


@pytest.mark.parametrize("parse,text,reason", [
    (arguments.positive_int, "0", ">= 1"), (arguments.non_negative_float, "-0.5", ">= 0"),
    (arguments.input_size, "200", "multiple of 32"), (arguments.input_size, "0", "multiple of 32"),
])
def test_values_out_of_range_say_why(parse, text, reason):
    with pytest.raises(argparse.ArgumentTypeError, match=reason):
        parse(text)


def test_the_models_refuse_what_the_cli_type_refuses():
    from ml.training.models import build_model

    with pytest.raises(ValueError, match="multiple of 32"):
        build_model("sinet", 200)
