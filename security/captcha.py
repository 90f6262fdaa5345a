"""Image captcha drawn with Pillow; the expected answer lives only in the signed session."""
import io
import secrets

from flask import current_app, session
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# No 0/O, 1/I/L: users read these off a noisy image.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_SESSION_KEY = "captcha_answer"


def new_challenge(length=4):
    answer = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    session[_SESSION_KEY] = answer
    return answer


def render_png(answer):
    width, height = 120, 40
    image = Image.new("RGB", (width, height), (245, 247, 250))
    draw = ImageDraw.Draw(image)
    rng = secrets.SystemRandom()
    for _ in range(6):
        draw.line(
            [(rng.randint(0, width), rng.randint(0, height)) for _ in range(2)],
            fill=(rng.randint(120, 200), rng.randint(120, 200), rng.randint(120, 200)),
            width=1,
        )
    font = ImageFont.load_default(size=26)
    for index, char in enumerate(answer):
        glyph = Image.new("RGBA", (30, 36), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text(
            (3, 2), char, font=font, fill=(rng.randint(10, 90), rng.randint(30, 90), 140)
        )
        glyph = glyph.rotate(rng.randint(-25, 25), expand=False)
        image.paste(glyph, (6 + index * 28, rng.randint(0, 4)), glyph)
    for _ in range(80):
        draw.point((rng.randint(0, width - 1), rng.randint(0, height - 1)), fill=(150, 150, 150))
    image = image.filter(ImageFilter.SMOOTH)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def verify(answer):
    """Check and consume the challenge: one captcha, one try."""
    if not current_app.config.get("CAPTCHA_ENABLED", True):
        return True
    expected = session.pop(_SESSION_KEY, None)
    return bool(expected) and (answer or "").strip().upper() == expected
