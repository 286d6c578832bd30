"""DeepLabV3 with a MobileNetV2 encoder (Pascal VOC, person = class 15) as a training teacher.

The quantized LiteRT files in ``../shared/pretrained/`` (google-coral/test_data, Apache-2.0) take a
513x513 uint8 RGB canvas and return the arg-max class per pixel, so this teacher's "probability" is
hard: 1 where the class is person, 0 elsewhere. The photo is scaled to fit the canvas with its
aspect ratio kept and the rest padded with mid grey, the convention these models were trained with.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ml.paths import PRETRAINED

FILES = {"deeplab": "deeplabv3_mnv2_pascal_quant.tflite", "deeplab-dm05": "deeplabv3_mnv2_dm05_pascal_quant.tflite"}
PERSON_CLASS = 15
PAD_GREY = 128


class DeepLabTeacher:
    """Person class of a Pascal VOC DeepLabV3, at the photo's own size."""

    def __init__(self, name: str = "deeplab", folder: Path = PRETRAINED):
        from ai_edge_litert.interpreter import Interpreter

        self.name = name
        self.interpreter = Interpreter(model_path=str(folder / FILES[name]), num_threads=2)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self.input_index, self.size = detail["index"], int(detail["shape"][1])
        self.output_index = self.interpreter.get_output_details()[0]["index"]

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        scale = self.size / max(height, width)
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        canvas = np.full((self.size, self.size, 3), PAD_GREY, np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
        self.interpreter.set_tensor(self.input_index, canvas[None])
        self.interpreter.invoke()
        person = (self.interpreter.get_tensor(self.output_index)[0, :new_h, :new_w] == PERSON_CLASS)
        return cv2.resize(person.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
