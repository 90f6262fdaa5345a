"""Image captcha drawn with Pillow. The expected answer stays on the server (Redis, with a
time-to-live); the session holds only the random id of the challenge. Every check consumes the
challenge, right or wrong, so an answer cannot be tried twice nor replayed with an old cookie."""
import hmac
import io
import secrets

from flask import current_app, session
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# No 0/O, 1/I/L: users read these off a noisy image.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_SESSION_KEY = "captcha_id"
_PREFIX = "dingkao:captcha:"


def _redis():
    from app import jobs

    return jobs.connection()


def new_challenge(length=4):
    """A new answer for this session's next login; the one before is dropped."""
    answer = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    challenge_id = secrets.token_urlsafe(24)
    redis = _redis()
    previous = session.get(_SESSION_KEY)
    pipe = redis.pipeline()
    if previous:
        pipe.delete(_PREFIX + previous)
    pipe.set(_PREFIX + challenge_id, answer, ex=current_app.config["CAPTCHA_TTL_SECONDS"])
    pipe.execute()
    session[_SESSION_KEY] = challenge_id
    return answer


def answer_of(challenge_id):
    """The expected answer of a live challenge, or None (tests read it, as a person reads the
    image)."""
    value = _redis().get(_PREFIX + challenge_id)
    return value.decode() if value else None


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
    challenge_id = session.pop(_SESSION_KEY, None)
    if not challenge_id:
        return False
    expected = _redis().getdel(_PREFIX + challenge_id)
    given = (answer or "").strip().upper().encode()
    return bool(expected) and hmac.compare_digest(expected, given)
