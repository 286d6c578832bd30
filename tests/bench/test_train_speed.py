"""bench.train_speed: a real (tiny) training step timed, the table, and argument checks."""
import pytest

pytest.importorskip("keras")

from bench import train_speed  # noqa: E402


def test_a_tiny_model_trains_and_reports_a_rate():
    assert train_speed.images_per_second("sinet", 64, batch=2, steps=1, warmup=1) > 0


def test_table_gives_seconds_per_epoch_of_the_training_split():
    table = train_speed.markdown_table([{"model": "sinet", "size": 224, "images_per_s": 20.03}])
    assert table.splitlines()[-1] == f"| sinet | 224 px | 20.0 | {train_speed.TRAIN_IMAGES / 20.03:.0f} s |"


@pytest.mark.parametrize("args", [["--sizes", "100"], ["--steps", "0"], ["--batch", "0"], ["--models", "unet"]])
def test_bad_arguments_are_refused(args):
    with pytest.raises(SystemExit):
        train_speed.parse_args(args)
