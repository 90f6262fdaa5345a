"""Test faces that ship in packages (never downloaded): matplotlib's grace_hopper.jpg,
scikit-image's astronaut, camera and lfw_subset (100 faces, then 100 non-faces)."""
from pathlib import Path

import numpy as np


def _cv2():
    import cv2

    return cv2


def grace_hopper():
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return _cv2().imread(str(path))


def astronaut():
    import skimage.data

    return _cv2().cvtColor(skimage.data.astronaut(), _cv2().COLOR_RGB2BGR)


def non_face(index=150):
    """One of lfw_subset's non-faces, upscaled to a camera-sized picture."""
    import skimage.data

    patch = np.load(Path(skimage.data.__file__).parent / "lfw_subset.npy")[index]
    grey = _cv2().normalize((patch * 255).astype(np.uint8), None, 30, 230, _cv2().NORM_MINMAX)
    return _cv2().cvtColor(_cv2().resize(grey, (480, 480)), _cv2().COLOR_GRAY2BGR)


def augmented(image):
    """The same person as another capture would show them: mirrored, brighter, a little turned
    and scaled."""
    cv2 = _cv2()
    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 4, 0.95)
    moved = cv2.warpAffine(cv2.flip(image, 1), turn, (width, height),
                           borderMode=cv2.BORDER_REPLICATE)
    return cv2.convertScaleAbs(moved, alpha=1.1, beta=8)


def side_by_side(left, right):
    cv2 = _cv2()
    height = min(left.shape[0], right.shape[0])

    def fit(image):
        return cv2.resize(image, (int(image.shape[1] * height / image.shape[0]), height))

    return np.hstack([fit(left), fit(right)])


def darkened(image, factor=0.12):
    return _cv2().convertScaleAbs(image, alpha=factor, beta=0)


def thumbnail(image):
    """The 5:7 face thumbnail kept at enrollment (app.storage.save_photo's crop)."""
    height, width = image.shape[:2]
    target = 5 / 7
    if width / height > target:
        new = int(height * target)
        image = image[:, (width - new) // 2:(width + new) // 2]
    else:
        new = int(width / target)
        image = image[(height - new) // 2:(height + new) // 2]
    return _cv2().resize(image, (250, 350))


def jpeg(image, quality=90):
    ok, data = _cv2().imencode(".jpg", image, [_cv2().IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()
