"""Uploaded files: checked by content, size-limited, images re-encoded, stored outside the web
root with random names."""
import io

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage

from app import storage


def _upload(data, name):
    return FileStorage(stream=io.BytesIO(data), filename=name)


def test_jpeg_is_reencoded_without_exif(province):
    image = Image.new("RGB", (80, 60), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    raw = io.BytesIO()
    image.save(raw, format="JPEG", exif=exif)
    assert b"SecretCameraMaker" in raw.getvalue()
    stored = storage.save_upload(_upload(raw.getvalue(), "photo.jpg"), storage.PHOTO, "photo")
    saved = (province.config["UPLOAD_DIR"] / stored.storage_name).read_bytes()
    assert b"SecretCameraMaker" not in saved and saved[:3] == b"\xff\xd8\xff"
    assert stored.storage_name.split("/")[-1] != "photo.jpg" and len(stored.sha256) == 64


def test_png_bomb_is_refused_before_decoding(province):
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, format="PNG")  # 144 Mpx, tiny on disk
    assert len(bomb.getvalue()) < 200_000
    with pytest.raises(storage.UploadRefused, match="图片尺寸过大"):
        storage.save_upload(_upload(bomb.getvalue(), "bomb.png"), storage.PHOTO, "photo")


def test_text_file_renamed_jpg_is_refused(province):
    with pytest.raises(storage.UploadRefused, match="文件格式不正确"):
        storage.save_upload(_upload(b"hello, not an image", "photo.jpg"), storage.PHOTO, "photo")


def test_truncated_image_is_refused(province):
    raw = io.BytesIO()
    Image.new("RGB", (200, 200)).save(raw, format="PNG")
    with pytest.raises(storage.UploadRefused, match="图片文件已损坏"):
        storage.save_upload(_upload(raw.getvalue()[:60], "cut.png"), storage.PHOTO, "photo")
