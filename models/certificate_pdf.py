"""The certificate as a PDF (fpdf2): one A4 page per certificate, one document for a batch.

The page holds the registered photo (the 5:7 thumbnail), name, masked ID number, institution,
practice category and level, cycle, result, the issuing administration and date, the
certificate number, an empty circle where the issuing authority's seal goes (the certificate is
valid only with it), and a QR code (segno) of the public verification URL.

Chinese needs a CJK font, embedded (subset) in the file: AR PL UMing CN (Debian's
fonts-arphic-uming, a Ming face like printed certificates; TrueType, so parsed and subset two to
three times faster than a CFF font), with Noto Serif CJK SC (fonts-noto-cjk) drawn only for
characters UMing lacks (rare characters in names), or the font file named by CERTIFICATE_FONT.
Without one the writer refuses with a message naming the font and the package to install.
"""
import functools
import io
from pathlib import Path

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _

from models.base import Refused

# (path, face in the collection): UMing's face 0 is CN; in the Noto collections face 2 is SC.
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
)
FONT_PACKAGE = "fonts-arphic-uming fonts-noto-cjk"
FONT_NAME = "AR PL UMing CN / Noto Serif CJK SC"
FAMILY = "cjk"
FALLBACK_FAMILY = "cjk-fallback"

PAGE_W, PAGE_H = 210, 297
PHOTO_W, PHOTO_H = 30, 42  # 5:7
QR_SIZE = 32
SEAL_DIAMETER = 42


class FontMissing(Refused):
    """No CJK font to print with; the message names it and how to install it."""


def font():
    """(path, collection index) of the CJK font to embed, or FontMissing."""
    configured = current_app.config.get("CERTIFICATE_FONT")
    if configured:
        path = Path(configured)
        if path.is_file():
            return path, int(current_app.config.get("CERTIFICATE_FONT_INDEX") or 0)
        raise FontMissing(_("The certificate font %(font)s was not found: please ask the system "
                            "administrator to install it", font=str(path)))
    for path, index in FONT_CANDIDATES:
        if Path(path).is_file():
            return Path(path), index
    raise FontMissing(_("The Chinese font %(font)s is not installed, so certificates cannot be "
                        "printed: please ask the system administrator to install the %(package)s "
                        "package", font=FONT_NAME, package=FONT_PACKAGE))


def fallback_font(primary):
    """(path, index) of the installed candidate after ``primary`` (for what it lacks), or None."""
    candidates = [(Path(p), i) for p, i in FONT_CANDIDATES if Path(p).is_file()]
    later = [c for c in candidates if c != primary]
    return later[0] if later and primary in candidates else None


def _common_characters():
    """ASCII and GB2312 (its 6,763 hanzi and its punctuation): what nearly every name, place
    and label is written in."""
    chars = set(range(0x20, 0x7F))
    for high in list(range(0xA1, 0xAA)) + list(range(0xB0, 0xF8)):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return chars


def common_subset(path, index):
    """(path, 0) of the TrueType font cut to ``_common_characters`` (a quarter of the memory
    to parse, and faster): made once into VAR_DIR/fonts, then reused by every process. What it
    lacks comes from the fallback font. A CFF font, or any failure: the font itself."""
    import os
    import tempfile

    from fontTools import subset
    from fontTools.ttLib import TTFont

    from config import VAR_DIR

    target = VAR_DIR / "fonts" / f"{Path(path).stem}-{index}-common.ttf"
    if target.is_file():
        return target, 0
    try:
        face = TTFont(str(path), fontNumber=index)
        if "glyf" not in face:
            return path, index
        options = subset.Options()
        options.layout_features, options.hinting, options.name_IDs = [], False, ["*"]
        cutter = subset.Subsetter(options)
        cutter.populate(unicodes=_common_characters())
        cutter.subset(face)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
        os.close(fd)
        face.save(scratch)
        os.replace(scratch, target)  # atomic: another process may be making the same file
    except Exception:  # fontTools on a font it cannot cut: print with the whole font
        current_app.logger.warning("could not cut %s; printing with the whole font", path,
                                   exc_info=True)
        return path, index
    return target, 0


@functools.lru_cache(maxsize=4)
def covered(path, index):
    """The code points a font draws (read once per process)."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), fontNumber=index, lazy=True) as face:
        return frozenset(face.getBestCmap())


def verification_url(base_url, code):
    return f"{base_url.rstrip('/')}/verify/{code}"


def qr_png(url):
    """The QR code of ``url`` as PNG bytes (medium error correction, a quiet zone of 2)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=6, border=2)
    return out.getvalue()


def photo_path(certificate):
    """The physician's registered photo (the 5:7 thumbnail) on disk, or None."""
    physician = certificate.enrollment.physician
    stored = physician.photo_thumb or physician.photo
    if stored is None:
        return None
    path = current_app.config["UPLOAD_DIR"] / stored.storage_name
    return path if path.is_file() else None


class CertificateWriter:
    """Add certificates page by page, then ``output()`` the document.

    The font is parsed once per writer, so a batch pays for it once."""

    def __init__(self, base_url):
        from fpdf import FPDF

        self.base_url = base_url
        path, index = font()
        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_title(_("Periodic assessment certificate"))
        self.pdf.set_creator(current_app.config.get("APP_NAME", ""))
        self.fallback = fallback_font((path, index))
        if self.fallback is not None:  # what the cut lacks has somewhere to come from
            path, index = common_subset(path, index)
        self.pdf.add_font(FAMILY, "", str(path), collection_font_number=index)
        self.font = (path, index)
        self.pages = 0

    def _draw_what_the_font_lacks(self, texts):
        """A name with a character the main font lacks gets it from the fallback font (parsed
        only then: most batches never need it)."""
        needed = {ord(c) for text in texts for c in str(text)} - covered(*self.font)
        if needed and self.fallback and FALLBACK_FAMILY not in self.pdf.fonts:
            path, index = self.fallback
            self.pdf.add_font(FALLBACK_FAMILY, "", str(path), collection_font_number=index)
            self.pdf.set_fallback_fonts([FALLBACK_FAMILY])

    def add(self, certificate, photo=None):
        """One page; ``photo`` is a path or bytes (default: the physician's registered one)."""
        pdf = self.pdf
        self._draw_what_the_font_lacks([
            certificate.physician_name, certificate.institution_name, certificate.cycle_name,
            certificate.administration_name])
        pdf.add_page()
        self.pages += 1
        self._frame()
        pdf.set_text_color(150, 20, 20)
        pdf.set_font(FAMILY, size=26)
        pdf.set_xy(0, 32)
        pdf.cell(PAGE_W, 12, _("Periodic Assessment Certificate of Physicians"), align="C")
        pdf.set_font(FAMILY, size=14)
        pdf.set_xy(0, 46)
        pdf.cell(PAGE_W, 8, _("(Notice of assessment result)"), align="C")
        pdf.set_text_color(20, 20, 20)

        photo = photo if photo is not None else photo_path(certificate)
        x_photo, y_photo = PAGE_W - 30 - PHOTO_W, 64
        if photo is not None:
            pdf.image(io.BytesIO(photo) if isinstance(photo, bytes) else str(photo),
                      x=x_photo, y=y_photo, w=PHOTO_W, h=PHOTO_H)
        pdf.set_draw_color(120, 120, 120)
        pdf.rect(x_photo, y_photo, PHOTO_W, PHOTO_H)
        if photo is None:
            pdf.set_font(FAMILY, size=10)
            pdf.set_xy(x_photo, y_photo + PHOTO_H / 2 - 3)
            pdf.cell(PHOTO_W, 6, _("No photo"), align="C")

        rows = [
            (_("Full name"), certificate.physician_name),
            (_("ID number"), certificate.masked_id_number),
            (_("Practice institution"), certificate.institution_name),
            (_("Practice category"), certificate.practice_category_label or "-"),
            (_("Physician level"), certificate.level_label or "-"),
            (_("Assessment cycle"), certificate.cycle_name),
            (_("Assessment result"), _("Qualified")),
        ]
        y = 66
        for label, value in rows:
            pdf.set_font(FAMILY, size=13)
            pdf.set_xy(30, y)
            pdf.cell(32, 9, f"{label}：")
            pdf.set_font(FAMILY, size=13)
            pdf.cell(100, 9, str(value))
            y += 11
        pdf.set_font(FAMILY, size=13)
        pdf.set_xy(30, y + 8)
        pdf.multi_cell(PAGE_W - 60, 8, _(
            "This is to certify that the physician above took part in the periodic assessment "
            "of %(cycle)s and the result is: qualified.", cycle=certificate.cycle_name))

        # The issuing administration, the date and the empty circle for its seal.
        x_seal, y_seal = PAGE_W - 40 - SEAL_DIAMETER, 190
        pdf.set_draw_color(200, 150, 150)
        pdf.set_dash_pattern(dash=1.5, gap=1.5)
        pdf.ellipse(x_seal, y_seal, SEAL_DIAMETER, SEAL_DIAMETER)
        pdf.set_dash_pattern()
        pdf.set_text_color(190, 140, 140)
        pdf.set_font(FAMILY, size=10)
        pdf.set_xy(x_seal, y_seal + SEAL_DIAMETER / 2 - 3)
        pdf.cell(SEAL_DIAMETER, 6, _("(Seal)"), align="C")
        pdf.set_text_color(20, 20, 20)
        pdf.set_font(FAMILY, size=12)
        pdf.set_xy(95, y_seal + SEAL_DIAMETER + 4)
        pdf.cell(85, 7, _("Issued by: %(administration)s",
                          administration=certificate.administration_name), align="R")
        pdf.set_xy(95, y_seal + SEAL_DIAMETER + 11)
        pdf.cell(85, 7, _("Date of issue: %(date)s",
                          date=format_date(certificate.issued_at.date(), "long")), align="R")

        # The QR code of the verification page, with the number under it.
        url = verification_url(self.base_url, certificate.code)
        x_qr, y_qr = 30, 192
        pdf.image(io.BytesIO(qr_png(url)), x=x_qr, y=y_qr, w=QR_SIZE, h=QR_SIZE)
        pdf.set_font(FAMILY, size=9)
        pdf.set_xy(x_qr - 2, y_qr + QR_SIZE + 1)
        pdf.cell(60, 5, _("Scan to verify this certificate"))
        pdf.set_font(FAMILY, size=11)
        pdf.set_xy(30, 252)
        pdf.cell(100, 6, _("Certificate number: %(number)s", number=certificate.number))
        pdf.set_font(FAMILY, size=9)
        pdf.set_text_color(90, 90, 90)
        pdf.set_xy(30, 262)
        pdf.multi_cell(PAGE_W - 60, 5, _(
            "Valid only with the seal of the issuing authority. Check it at the address of the "
            "QR code; a revoked certificate is shown as revoked there."))
        pdf.set_text_color(20, 20, 20)

    def _frame(self):
        pdf = self.pdf
        pdf.set_draw_color(150, 20, 20)
        pdf.set_line_width(1.2)
        pdf.rect(12, 12, PAGE_W - 24, PAGE_H - 24)
        pdf.set_line_width(0.3)
        pdf.rect(15, 15, PAGE_W - 30, PAGE_H - 30)

    def output(self, path=None):
        """The PDF's bytes, or written to ``path``."""
        data = self.pdf.output()
        if path is None:
            return bytes(data)
        Path(path).write_bytes(data)
        return None


def render(certificates, base_url, photo=None):
    """One PDF of ``certificates`` (one page each): bytes."""
    writer = CertificateWriter(base_url)
    for certificate in certificates:
        writer.add(certificate, photo=photo)
    return writer.output()
