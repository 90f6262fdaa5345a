"""A real province starts on it, end to end (issue 15), the way README "Running it for real"
runs it: a database of its own (on the PostgreSQL the test run started, or a SQLite file), a
real Debian `redis-server`, `flask dingkao init`, `flask dingkao create-admin`, gunicorn with two
workers and two RQ workers, all as separate processes talking HTTP through one trusted proxy.

The administrator logs in, must change the password, imports a small tree of administrations
and institutions; an institution account logs in (forced change too) and starts an export;
the work-horse running it is sent SIGTERM mid-export, the job is retried and the file arrives.
The login limit holds across the two gunicorn workers. A backup taken with scripts/backup.sh
and restored with scripts/restore.sh brings back the same rows and the same files."""
import hashlib
import http.cookiejar
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, inspect, select, text

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="needs Debian's redis-server (bash scripts/system-deps.sh test installs it)")

ADMIN_FIRST = "First#Admin2026"
ADMIN_NEW = "Province#2026ok"
INSTITUTION_NEW = "Hospital#2026ok"
LOGIN_LIMIT = 10


# --- processes ------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Processes:
    def __init__(self, tmp):
        self.tmp = tmp
        self.running = []

    def start(self, name, args, env):
        log = open(self.tmp / f"{name}.log", "wb")
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        process.log_path = self.tmp / f"{name}.log"
        self.running.append(process)
        return process

    def stop(self, process, sig=signal.SIGTERM, timeout=30):
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self):
        for process in reversed(list(self.running)):
            self.stop(process)


def _run(args, env, **kwargs):
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=300, **kwargs)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


# --- a browser without a browser ------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies, CSRF tokens and forms over real HTTP, from one client address (sent the way
    the reverse proxy sends it)."""

    def __init__(self, base, address):
        self.base, self.address = base, address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())

    def request(self, path, data=None, headers=None):
        headers = {"X-Forwarded-For": self.address, "X-Forwarded-Proto": "http",
                   "Connection": "close", **(headers or {})}
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def get(self, path):
        return self.request(path)

    def page(self, path):
        status, _headers, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        return body.decode()

    def token(self, path):
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.page(path))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path, fields, token_from=None):
        fields = {"csrf_token": self.token(token_from or path), **fields}
        return self.request(path, urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def upload(self, path, name, data):
        boundary = uuid.uuid4().hex
        token = self.token(path)
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
                f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request(path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def login(self, username, password):
        return self.post("/login/", {"kind": "staff", "username": username,
                                     "password": password, "agree": "y"})

    def change_password(self, old, new):
        status, headers, body = self.post("/account/password", {
            "old_password": old, "new_password": new, "confirm_password": new})
        assert status == 302, body[:500]


# --- the database of this test --------------------------------------------------------------


def _database(tmp):
    """A database of this test's own: a new one on the test run's PostgreSQL, or a file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'province.db'}", None
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"dingkao_e2e_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))

    def drop():
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()

    return url.rsplit("/", 1)[0] + "/" + name, drop


def _rows(url):
    """Every row of every table, as text, table by table (what a restore must bring back)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            from sqlalchemy import MetaData

            meta = MetaData()
            meta.reflect(conn)
            return {name: sorted(json.dumps([str(v) for v in row])
                                 for row in conn.execute(select(meta.tables[name])))
                    for name in tables}
    finally:
        engine.dispose()


def _files(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _tree_workbook(template):
    """The downloaded template, filled in as a province would."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(template))
    admins, institutions = book.worksheets[0], book.worksheets[1]
    admins.append(["测试省卫生健康委员会", "省级", "", "880000", "ceshisheng", "", ""])
    admins.append(["测试市卫生健康委员会", "市级", "测试省卫生健康委员会", "880100", "ceshishi", "", ""])
    admins.append(["测试区卫生健康委员会", "区县级", "测试市卫生健康委员会", "880101", "ceshiqu", "", ""])
    institutions.append(["测试省人民医院", "CS0001", "测试市卫生健康委员会", "医疗机构", "三级", "甲等",
                         "", "", "", "", 800, "", "", "", "", "是", ""])
    institutions.append(["测试区第一医院", "CS0002", "测试区卫生健康委员会", "医疗机构", "二级", "甲等",
                         "", "", "", "", 300, "", "", "", "", "否", "CS0001"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the test -------------------------------------------------------------------------------


@pytest.fixture()
def server(tmp_path):
    url, drop = _database(tmp_path)
    processes = Processes(tmp_path)
    uploads = tmp_path / "uploads"
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT), "FLASK_APP": "run.py",
        "DATABASE_URL": url, "UPLOAD_DIR": str(uploads),
        "DINGKAO_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "e2e-" + "k" * 44,
        "REDIS_URL": f"unix://{tmp_path / 'redis.sock'}",
        "TRUSTED_PROXIES": "1",
        # The captcha is read from an image by people; this test logs in as a script.
        "CAPTCHA_ENABLED": "0",
        "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
        "JOB_RETRY_INTERVALS": "1",
    }
    try:
        redis = processes.start("redis", [REDIS_SERVER, "--port", "0", "--unixsocket",
                                          str(tmp_path / "redis.sock"), "--save", "",
                                          "--appendonly", "no"], env)
        _wait_for(lambda: (tmp_path / "redis.sock").exists(), 20, "redis-server")
        yield {"env": env, "url": url, "uploads": uploads, "tmp": tmp_path,
               "processes": processes, "redis": redis}
    finally:
        processes.stop_all()
        if drop:
            drop()


def _start_web(server):
    port = _free_port()
    web = server["processes"].start("gunicorn", [
        str(VENV / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
        "--timeout", "120", "run:app"], server["env"])
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(base + "/login/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    _wait_for(up, 90, "gunicorn")
    return web, base


def _start_workers(server):
    workers = [server["processes"].start(f"worker{n}", [str(VENV / "flask"), "dingkao",
                                                        "worker"], server["env"])
               for n in (1, 2)]
    return workers


def _horses(process):
    """The worker's work-horses: RQ forks each into a process group of its own, which tells
    it from the worker's scheduler process."""
    try:
        children = psutil.Process(process.pid).children()
    except psutil.NoSuchProcess:
        return set()
    horses = set()
    for child in children:
        try:
            if os.getpgid(child.pid) == child.pid:
                horses.add(child.pid)
        except ProcessLookupError:
            pass
    return horses


def test_a_province_starts_from_an_empty_server(server):
    env = server["env"]
    flask = str(VENV / "flask")
    out = _run([flask, "dingkao", "init"], env)
    assert "subjects" in out
    out = _run([flask, "dingkao", "create-admin", "--password", ADMIN_FIRST], env)
    assert "must change the password" in out
    demo = subprocess.run([flask, "dingkao", "demo", "--yes-demo-accounts"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode != 0 and "real province" in demo.stderr + demo.stdout

    web, base = _start_web(server)
    workers = _start_workers(server)

    # The administrator logs in and must change the password first.
    admin = Browser(base, "198.51.100.10")
    status, headers, _body = admin.login("admin", ADMIN_FIRST)
    assert status == 302
    status, headers, _body = admin.get("/tree/import/")
    assert status == 302 and headers["Location"].endswith("/account/password")
    admin.change_password(ADMIN_FIRST, ADMIN_NEW)
    admin = Browser(base, "198.51.100.10")
    assert admin.login("admin", ADMIN_NEW)[0] == 302

    # ...and imports the province's tree into the downloaded template.
    status, _headers, template = admin.get("/tree/import/template.xlsx")
    assert status == 200
    status, _headers, body = admin.upload("/tree/import/", "tree.xlsx", _tree_workbook(template))
    page = body.decode()
    assert status == 200, page[:500]
    assert 'id="administrations-added">3<' in page and 'id="institutions-added">2<' in page
    assert 'id="rejected-count">0<' in page

    # An institution account logs in (initial password, forced change) and exports.
    hospital = Browser(base, "198.51.100.20")
    assert hospital.login("CS0002", "666666")[0] == 302
    hospital.change_password("666666", INSTITUTION_NEW)
    hospital = Browser(base, "198.51.100.20")
    assert hospital.login("CS0002", INSTITUTION_NEW)[0] == 302
    assert "测试区第一医院" in hospital.page("/")

    before = {id(w): _horses(w) for w in workers}
    status, headers, _body = hospital.post("/enrollmentview/export", {},
                                           token_from="/account/password")
    assert status == 302 and headers["Location"].endswith("/exports/")

    # SIGTERM to the work-horse of whichever worker took it, while the job runs.
    def horse():
        for worker in workers:
            new = _horses(worker) - before[id(worker)]
            if new:
                return worker, new.pop()
        return None

    worker, horse_pid = _wait_for(horse, 60, "a work-horse to take the export")
    os.kill(horse_pid, signal.SIGTERM)
    assert 'data-status="failed"' not in hospital.page("/exports/")

    # Retried (by either worker) and the file arrives.
    def export_listed():
        page = hospital.page("/exports/")
        match = re.search(r'href="(/exports/\d+/download)"', page)
        return match.group(1) if match else None

    link = _wait_for(export_listed, 90, "the retried export's file")
    status, headers, data = hospital.get(link)
    assert status == 200 and data[:2] == b"PK"
    logs = "".join(w.log_path.read_text(errors="replace") for w in workers)
    assert "Work-horse terminated unexpectedly" in logs and "retry" in logs.lower()

    # A service manager stopping a worker (SIGTERM to the worker alone, KillMode=mixed in
    # deploy/systemd) lets the export it is running finish: the file arrives, then it exits.
    files_before = len(re.findall(r'href="/exports/\d+/download"', hospital.page("/exports/")))
    before = {id(w): _horses(w) for w in workers}
    status, _headers, _body = hospital.post("/enrollmentview/export", {},
                                            token_from="/account/password")
    assert status == 302
    worker, horse_pid = _wait_for(horse, 60, "a work-horse to take the second export")
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(120) == 0
    assert not psutil.pid_exists(horse_pid) or psutil.Process(horse_pid).status() == \
        psutil.STATUS_ZOMBIE
    page = hospital.page("/exports/")
    assert len(re.findall(r'href="/exports/\d+/download"', page)) == files_before + 1
    assert 'data-status="failed"' not in page
    workers.remove(worker)
    server["processes"].running.remove(worker)

    # The login limit holds across the two gunicorn workers: one address, LOGIN_LIMIT POSTs
    # a minute whichever worker answers (each alone would let twice as many through).
    attacker = Browser(base, "203.0.113.99")
    token = attacker.token("/login/")
    codes = [attacker.request("/login/", urllib.parse.urlencode({
        "csrf_token": token, "kind": "staff", "username": "nobody", "password": "wrong",
        "agree": "y"}).encode(), {"Content-Type": "application/x-www-form-urlencoded"})[0]
        for _ in range(2 * LOGIN_LIMIT)]
    assert codes.count(429) == LOGIN_LIMIT, codes
    assert 429 not in codes[:LOGIN_LIMIT]
    workers_seen = {p.pid for p in psutil.Process(web.pid).children()}
    assert len(workers_seen) == 2
    # Another address behind the same proxy is not refused because of it.
    assert Browser(base, "203.0.113.100").login("CS0002", INSTITUTION_NEW)[0] == 302

    # Backup while running; then stop, lose data and files, restore: the same rows and files.
    backup_root = server["tmp"] / "backups"
    folder = Path(_run(["bash", str(ROOT / "scripts" / "backup.sh"), str(backup_root)],
                       env).strip().splitlines()[-1])
    assert (folder / "MANIFEST").exists()
    for process in workers + [web]:
        server["processes"].stop(process)
    rows, files = _rows(server["url"]), _files(server["uploads"])
    assert rows["institution"] and rows["stored_file"] and files

    engine = create_engine(server["url"])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM export_job"))  # it refers to its file
        conn.execute(text("DELETE FROM stored_file"))
        conn.execute(text("UPDATE institution SET name = 'changed'"))
    engine.dispose()
    for path in server["uploads"].rglob("*"):
        if path.is_file():
            path.unlink()
    assert _rows(server["url"]) != rows

    _run(["bash", str(ROOT / "scripts" / "restore.sh"), str(folder)], env)
    assert _rows(server["url"]) == rows
    assert _files(server["uploads"]) == files
    # A damaged backup is refused before anything is touched.
    (folder / "uploads.tar.gz").write_bytes(b"broken")
    broken = subprocess.run(["bash", str(ROOT / "scripts" / "restore.sh"), str(folder)],
                            env=env, cwd=ROOT, capture_output=True, text=True)
    assert broken.returncode != 0 and "MANIFEST" in broken.stderr
    assert _rows(server["url"]) == rows
