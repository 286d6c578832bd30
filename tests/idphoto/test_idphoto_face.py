"""Face and eye finding on the test portrait, groups numbered left to right, and the documented errors."""
import cv2
import numpy as np
import pytest

from ml.errors import FaceError
from ml.idphoto.face import choose_face, detect_faces

# Eye centres of the test portrait, read off the image by hand (x, y in its 512 px frame).
LEFT_EYE, RIGHT_EYE = (202, 101), (247, 101)
CHIN_Y = 178


def turn(image: np.ndarray, degrees: float, centre=(225, 101)) -> np.ndarray:
    """The portrait rotated clockwise by ``degrees`` about a point between the eyes."""
    height, width = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D(centre, -degrees, 1.0), (width, height),
                          borderMode=cv2.BORDER_REPLICATE)


def group(portrait: np.ndarray, heights=(512, 400, 460)) -> np.ndarray:
    """Copies of the portrait side by side at different sizes, on a grey canvas."""
    canvas = np.full((512, sum(heights) + 40 * len(heights), 3), 128, np.uint8)
    x = 20
    for h in heights:
        canvas[512 - h:, x:x + h] = cv2.resize(portrait, (h, h), interpolation=cv2.INTER_AREA)
        x += h + 40
    return canvas


def test_the_portrait_has_one_face_with_both_eyes(portrait):
    face, number, count = choose_face(portrait)
    assert (number, count) == (1, 1)
    for found, truth in zip(face.eyes, (LEFT_EYE, RIGHT_EYE)):
        assert np.hypot(found[0] - truth[0], found[1] - truth[1]) < 5
    assert abs(face.chin_y - CHIN_Y) < 0.08 * face.height


@pytest.mark.parametrize("degrees", [-8, -4, 4, 8])
def test_roll_follows_a_turn_of_the_photo(portrait, degrees):
    level = choose_face(portrait)[0].roll_deg
    assert abs(choose_face(turn(portrait, degrees))[0].roll_deg - level - degrees) < 1.5


def test_roll_of_the_mirror_image_is_the_opposite(portrait):
    roll = choose_face(portrait)[0].roll_deg
    assert abs(choose_face(np.ascontiguousarray(portrait[:, ::-1]))[0].roll_deg + roll) < 1.0


def test_no_face_gives_a_clear_error():
    yy, xx = np.mgrid[0:400, 0:300]
    gradient = np.dstack([xx * 255 // 300, yy * 255 // 400, np.full_like(xx, 128)]).astype(np.uint8)
    assert detect_faces(gradient) == []
    with pytest.raises(FaceError, match="No face was found"):
        choose_face(gradient)


def test_group_faces_are_numbered_left_to_right(portrait):
    photo = group(portrait)
    with pytest.raises(FaceError, match="3 faces were found.*face=1 to 3"):
        choose_face(photo)
    centres = [choose_face(photo, n)[0].centre_x for n in (1, 2, 3)]
    assert centres == sorted(centres) and centres[0] < 512 < centres[1] < 952 < centres[2]
    assert choose_face(photo, 2)[1:] == (2, 3)


def test_a_face_number_outside_the_group_is_refused(portrait):
    with pytest.raises(FaceError, match="Face 4 does not exist: 3 faces"):
        choose_face(group(portrait), 4)
