"""Uploaded files: checked by content (not by name), size-limited, images re-encoded, stored
outside the web root under UPLOAD_DIR with random names, served only through scoped views: as
downloads, except images (re-encoded, so nothing but pixels), never sniffed, under a policy that
runs nothing."""
import hashlib
import io
import secrets
import warnings
from dataclasses import dataclass

from flask import current_app, send_file
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from app.extensions import db
from models.base import Refused
from models.files import StoredFile

# Decompression bombs: a few KB of PNG can say 6000x6000 and cost seconds and hundreds of MB to
# decode. The header is read first and anything above a 20-megapixel camera (or an A4 scan at
# 400 dpi) is refused before decoding; Pillow's own guard is set to the same bound.
MAX_IMAGE_PIXELS = 20_000_000
MAX_IMAGE_SIDE = 10_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
_LABELS = {PDF: "PDF", JPEG: "JPG", PNG: "PNG"}


class UploadRefused(Refused):
    """The file was not accepted; the message is for the user."""


@dataclass(frozen=True)
class Policy:
    kinds: tuple
    max_bytes: int
    # Images over max_bytes are made smaller (a phone photo of 5 MB) instead of refused; other
    # kinds (a PDF) are still refused over the limit.
    shrink: bool = False

    def describe(self):
        kinds = "/".join(_LABELS[k] for k in self.kinds)
        return _("%(kinds)s, at most %(size)sMB", kinds=kinds,
                 size=self.max_bytes // (1024 * 1024))


ATTACHMENT = Policy((PDF, JPEG, PNG), 10 * 1024 * 1024)
PHOTO = Policy((JPEG, PNG), 2 * 1024 * 1024, shrink=True)
LICENCE = Policy((JPEG, PNG, PDF), 3 * 1024 * 1024, shrink=True)
# The largest image a shrinking policy reads before making it smaller (a phone's photo).
SHRINK_INPUT_BYTES = 15 * 1024 * 1024
# Sides tried, largest first, until a shrunk image fits its policy.
SHRINK_SIDES = (3000, 2400, 1800, 1200, 900, 600)


def sniff(data):
    """The real type of the bytes, whatever the file is called."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def _reencode(data, kind, max_bytes=None):
    """Decode and write the image again: drops EXIF and anything hidden after the pixels. The
    EXIF orientation is applied first (a phone's portrait photo stays upright); with
    ``max_bytes`` an image larger than that is scaled down until it fits."""
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that: a refusal here too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > MAX_IMAGE_PIXELS or max(width, height) > MAX_IMAGE_SIDE:
                raise UploadRefused(_("The image is too large, please compress it and upload it "
                                      "again"))
            image.load()
            image = ImageOps.exif_transpose(image)
            encoded = _encode(image, kind)
            for side in SHRINK_SIDES if max_bytes else ():
                if len(encoded) <= max_bytes:
                    break
                smaller = image.copy()
                smaller.thumbnail((side, side))
                encoded = _encode(smaller, kind, quality=85)
            if max_bytes and len(encoded) > max_bytes:
                raise UploadRefused(_("The image is too large, please compress it and upload "
                                      "it again"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(_("The image is too large, please compress it and upload it "
                              "again")) from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise UploadRefused(_("The image is damaged or in a wrong format, please upload it "
                              "again")) from None
    return encoded


def _encode(image, kind, quality=90):
    out = io.BytesIO()
    if kind == JPEG:
        image.convert("RGB").save(out, format="JPEG", quality=quality)
    else:
        image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def save_upload(upload, policy, purpose, *, institution_id=None, physician_id=None,
                uploaded_by_id=None):
    """Check and store a werkzeug FileStorage; returns the StoredFile (added, not committed)."""
    data, kind = checked(upload, policy)
    return _store_bytes(data, kind, upload.filename, purpose, institution_id=institution_id,
                        physician_id=physician_id, uploaded_by_id=uploaded_by_id)


def checked(upload, policy):
    """The upload's content checked against ``policy`` (kind by its bytes, size, a decodable
    image, re-encoded): (data, kind), or UploadRefused saying why."""
    if upload is None or not upload.filename:
        raise UploadRefused(_("Please choose the file to upload"))
    limit = SHRINK_INPUT_BYTES if policy.shrink else policy.max_bytes
    data = upload.read(limit + 1)
    kind = sniff(data)
    if len(data) > limit or (len(data) > policy.max_bytes and kind not in (JPEG, PNG)):
        raise UploadRefused(_("The file is too large, please upload a file of %(policy)s",
                              policy=policy.describe()))
    if not data:
        raise UploadRefused(_("The file is empty, please choose another"))
    if kind not in policy.kinds:
        raise UploadRefused(_("Wrong file format, please upload a file of %(policy)s",
                              policy=policy.describe()))
    if kind in (JPEG, PNG):
        data = _reencode(data, kind, policy.max_bytes if policy.shrink else None)
    return data, kind


# What a served file may do when a browser opens it: show itself, nothing else (no script, no
# form, no plugin, no framing), even if its bytes look like HTML to some reader.
FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; " \
              "frame-ancestors 'none'"


def send_stored(stored):
    """Serve a stored file: images inline (they were re-encoded at upload), everything else as
    a download (a PDF is stored as uploaded and may be an HTML polyglot)."""
    path = current_app.config["UPLOAD_DIR"] / stored.storage_name
    inline = stored.content_type in (JPEG, PNG)
    response = send_file(path, mimetype=stored.content_type, as_attachment=not inline,
                         download_name=stored.original_name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response


def _store_bytes(data, kind, original_name, purpose, **owner):
    name = secrets.token_hex(16)
    folder = current_app.config["UPLOAD_DIR"] / name[:2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    stored = StoredFile(storage_name=f"{name[:2]}/{name}", original_name=original_name[-255:],
                        content_type=kind, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), purpose=purpose, **owner)
    db.session.add(stored)
    return stored


def save_photo(upload, physician_id, uploaded_by_id=None):
    """The 1-inch ID photo and its face-sized thumbnail (5:7, centre crop), for proctoring
    comparisons and the certificate. Returns (photo, thumbnail)."""
    photo = save_upload(upload, PHOTO, "photo", physician_id=physician_id,
                        uploaded_by_id=uploaded_by_id)
    path = current_app.config["UPLOAD_DIR"] / photo.storage_name
    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        target = 5 / 7
        if width / height > target:
            new_width = int(height * target)
            box = ((width - new_width) // 2, 0, (width + new_width) // 2, height)
        else:
            new_height = int(width / target)
            box = (0, (height - new_height) // 2, width, (height + new_height) // 2)
        thumb = image.crop(box).resize((250, 350))
        out = io.BytesIO()
        thumb.save(out, format="JPEG", quality=88)
    thumbnail = _store_bytes(out.getvalue(), JPEG, "thumbnail.jpg", "photo_thumb",
                             physician_id=physician_id, uploaded_by_id=uploaded_by_id)
    return photo, thumbnail
