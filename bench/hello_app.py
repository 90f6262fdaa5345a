"""The baseline of bench/exam.py: a bare Flask app with one route returning "hello", served by
gunicorn with the very same settings as the real app (``gunicorn bench.hello_app:app``)."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"
