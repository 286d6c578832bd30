"""Face and eye finding on the test portrait, and the documented errors for no face / two faces."""
import numpy as np
import pytest

from ml.errors import FaceError
from ml.idphoto.face import detect_faces, find_single_face

# Eye centres of the test portrait, read off the image by hand (x, y in its 512 px frame).
LEFT_EYE, RIGHT_EYE = (202, 101), (247, 101)
CHIN_Y = 178


def test_the_portrait_has_one_face_with_both_eyes(portrait):
    face = find_single_face(portrait)
    assert face.eyes is not None
    for found, truth in zip(face.eyes, (LEFT_EYE, RIGHT_EYE)):
        assert np.hypot(found[0] - truth[0], found[1] - truth[1]) < 7
    assert abs(face.chin_y - CHIN_Y) < 0.08 * face.height
    assert abs(face.roll_deg) < 5


def test_no_face_gives_a_clear_error():
    yy, xx = np.mgrid[0:400, 0:300]
    gradient = np.dstack([xx * 255 // 300, yy * 255 // 400, np.full_like(xx, 128)]).astype(np.uint8)
    assert detect_faces(gradient) == []
    with pytest.raises(FaceError, match="No face was found"):
        find_single_face(gradient)


def test_two_faces_give_a_clear_error(portrait):
    pair = np.hstack([portrait, portrait])
    assert len(detect_faces(pair)) >= 2
    with pytest.raises(FaceError, match="2 faces were found"):
        find_single_face(pair)


def test_a_tilted_face_reports_its_roll(portrait):
    import cv2
    height, width = portrait.shape[:2]
    turned = cv2.warpAffine(portrait, cv2.getRotationMatrix2D((225, 101), -6, 1.0), (width, height),
                            borderMode=cv2.BORDER_REPLICATE)
    face = find_single_face(turned)
    assert face.eyes is not None
    assert 3 < face.roll_deg < 10  # clockwise turn: the right-hand eye sits lower
