"""Run the system on its embedded defaults: SQLite, an embedded Redis, one RQ worker, demo data.

`make run` calls this. Production runs gunicorn on `run:app`, `flask dingkao worker` and
`flask dingkao facecheck-worker` (one per core).
"""
import gc
import os
import signal
import subprocess
import sys

from app import create_app

app = create_app()
# Everything built so far lives as long as the process: keep it out of the collector's full
# passes, which otherwise stall a request now and then (~100 ms over 240k objects).
gc.freeze()


def main():
    from app.cli import ensure_roles
    from app import demo
    from app.extensions import analyze
    from app.jobs import redis_url, stop_embedded
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        demo.seed_demo_exams()
        analyze()
        url = redis_url(app)
    env = dict(os.environ, REDIS_URL=url, FLASK_APP="run.py")
    worker = subprocess.Popen([sys.executable, "-m", "flask", "dingkao", "worker"], env=env)
    # The snapshots' face checks (models loaded once in that process).
    face_worker = subprocess.Popen([sys.executable, "-m", "flask", "dingkao",
                                    "facecheck-worker"], env=env)
    # Stop the worker and the embedded Redis with us, also when we are stopped by a signal
    # (the Redis server runs in a session of its own: nothing else would stop it).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        app.run(host="127.0.0.1", port=int(os.environ.get("PORT", 5000)), use_reloader=False)
    finally:
        for process in (worker, face_worker):
            process.terminate()
        for process in (worker, face_worker):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        stop_embedded()


if __name__ == "__main__":
    main()
