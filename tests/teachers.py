"""A real, if simple, teacher for the tests of the teacher-labelled data (ml.teachers, ml.backgrounds):
bright pixels are people, as the generated datasets draw people bright on dark. It counts its calls,
so a test can see that cached labels are not made again."""
import numpy as np


class BrightTeacher:
    """Bright pixels are people. Counts its calls."""

    name = "bright"

    def __init__(self):
        self.calls = 0

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        return (rgb.mean(axis=2) > 128).astype(np.float32)
