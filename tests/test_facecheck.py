"""The face checker on faces that ship in packages: the same person (an augmented copy) passes,
another person does not, a picture without a face is 无人脸, two faces side by side are 多人, a
dark picture says so; the models are loaded once per process."""
import pytest

from app import facecheck
from tests import faces

SETTINGS = facecheck.Settings()
REFERENCE = faces.jpeg(faces.thumbnail(faces.grace_hopper()))


@pytest.fixture(scope="module")
def checker():
    return facecheck.checker()


def check(checker, image):
    return checker.check(faces.jpeg(image), REFERENCE, SETTINGS)


def test_the_same_person_in_another_capture_passes(checker):
    result = check(checker, faces.augmented(faces.grace_hopper()))
    assert result.faces == 1
    assert result.similarity >= SETTINGS.threshold
    assert result.flags == []
    assert result.verdict(SETTINGS) == facecheck.PASSED


def test_another_person_is_below_the_threshold(checker):
    result = check(checker, faces.astronaut())
    assert result.faces == 1
    assert result.similarity < SETTINGS.threshold
    assert result.verdict(SETTINGS) == facecheck.LOW


@pytest.mark.parametrize("index", [110, 150, 199])
def test_a_picture_without_a_face_is_no_face(checker, index):
    result = check(checker, faces.non_face(index))
    assert result.faces == 0
    assert facecheck.NO_FACE in result.flags
    assert result.verdict(SETTINGS) == facecheck.NO_FACE


def test_two_faces_side_by_side_are_several_people(checker):
    result = check(checker, faces.side_by_side(faces.grace_hopper(),
                                               faces.augmented(faces.grace_hopper())))
    assert result.faces == 2
    assert facecheck.MULTIPLE in result.flags
    assert result.verdict(SETTINGS) == facecheck.MULTIPLE


def test_a_dark_picture_is_too_dark(checker):
    result = check(checker, faces.darkened(faces.grace_hopper()))
    assert result.verdict(SETTINGS) == facecheck.TOO_DARK


def test_bytes_that_are_no_picture_are_unreadable(checker):
    result = checker.check(b"not a picture", REFERENCE, SETTINGS)
    assert result.verdict(SETTINGS) == facecheck.UNREADABLE


def test_a_turned_head_is_looking_away(checker):
    tight = facecheck.Settings(max_yaw=0.5, max_pitch=0.5)
    result = checker.check(faces.jpeg(faces.grace_hopper()), REFERENCE, tight)
    assert facecheck.AWAY in result.flags


def test_the_models_are_loaded_once_per_process(checker):
    assert facecheck.checker() is checker
    assert facecheck.checker() is facecheck.checker()


def test_the_model_files_come_from_the_installed_packages():
    files = facecheck.model_files()
    assert all(path.is_file() and path.stat().st_size > 100_000 for path in files.values())
