"""The embedded Redis is stopped with what started it (issue #8, point 12): `make run` stopped
by SIGTERM, and a test run, leave no redis-server behind. (It runs in a session of its own, so
nothing else would ever stop it; dozens used to pile up.)"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from config import BASE_DIR


def _servers_of(var_dir):
    """Live redis-server processes working in ``var_dir`` (redis runs in its data folder)."""
    found = []
    for process in psutil.process_iter(["name", "status"]):
        try:
            if "redis-server" not in (process.info["name"] or "") \
                    or process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if Path(process.cwd()) == Path(var_dir):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(var_dir, **extra):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DINGKAO_TEST_TMP",
                          "TEST_DATABASE_URL", "PYTEST_CURRENT_TEST")}
    return {**env, "DINGKAO_VAR_DIR": str(var_dir), "PYTHONPATH": str(BASE_DIR), **extra}


def _wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_stopping_make_run_stops_its_worker_and_its_embedded_redis():
    var_dir = Path(tempfile.mkdtemp(prefix="dingkao-run-"))
    port = _free_port()
    run = subprocess.Popen([sys.executable, "run.py"], cwd=BASE_DIR,
                           env=_env(var_dir, PORT=str(port)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def serving():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/login/",
                                              timeout=2).status == 200
            except OSError:
                return False

        _wait_until(serving, 180, "make run to serve")
        servers = _servers_of(var_dir)
        assert len(servers) == 1, servers
        children = psutil.Process(run.pid).children(recursive=True)
        assert children  # the RQ worker

        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
        _wait_until(lambda: not _servers_of(var_dir), 15, "the embedded redis-server to stop")
        assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE
                       for child in children)
        assert (var_dir / "secret_key").exists()  # make run made its own key
    finally:
        if run.poll() is None:
            run.kill()
        for pid in _servers_of(var_dir):
            os.kill(pid, signal.SIGKILL)


def test_a_test_run_stops_the_embedded_redis_it_started():
    tmp = Path(tempfile.mkdtemp(prefix="dingkao-nested-test-"))
    var_dir = tmp / "var"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_platform.py::test_a_job_runs_on_the_embedded_redis"],
        cwd=BASE_DIR, env=_env(var_dir, DINGKAO_TEST_TMP=str(tmp)),
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    assert (var_dir / "redis.rdb").exists()  # it did run a server there
    assert not _servers_of(var_dir)
