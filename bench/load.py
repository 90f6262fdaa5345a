"""Institutions under gunicorn (issue 9): 50 logged-in institution clients, closed loop on the
institution's 医师 roster and home page, against a bare Flask route (bench/hello_app.py) under
the same gunicorn settings, in the same run. Targets: p95 ≤ 300 ms and at least 20 % of the
bare-Flask rate.

Data: the database of bench/pages.py (``--size``, default 330,000: run bench/pages.py first, or
give ``--database-url``). The clients are the accounts of the ``--clients`` institutions with the
most physicians (created with BENCH_PASSWORD where missing), each logged in through the real
form. Both servers listen on 127.0.0.1 only; the run is bounded: ``--rounds`` × (app, hello)
closed loops of ``--seconds`` each (after ``--warmup``), alternating. CPU time per request is
the gunicorn workers' (and PostgreSQL's) CPU over the requests served.

Reuses bench/exam.py's gunicorn launcher, aiohttp client, closed loop and CPU meters. Results:
bench/results/load-<date>-<suffix>.md and .json.
"""
import argparse
import asyncio
import datetime
import json
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEPS = ROOT / "bench" / ".deps"
if DEPS.is_dir() and str(DEPS) not in sys.path:
    sys.path.append(str(DEPS))

from bench.exam import (  # noqa: E402
    Client,
    CpuMeter,
    Gunicorn,
    Recorder,
    closed_loop,
    find_postmaster,
    machine_info,
)
from bench.pages import BENCH_PASSWORD, _app  # noqa: E402

TARGET_P95_MS = 300.0
TARGET_SHARE = 0.20
PAGES = ("/physicianview/list/", "/")


class Staff:
    def __init__(self, index, username):
        self.index, self.username, self.cookies = index, username, {}


def accounts(url, count):
    """The accounts of the ``count`` institutions with the most physicians (created where
    missing)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from models import AppUser, Institution, Physician
    from security import roles
    from security.accounts import create_account

    app = _app(url, Path(tempfile.mkdtemp(prefix="dingkao-bench-load-")))
    names = []
    with app.app_context():
        biggest = db.session.execute(
            select(Institution).join(Physician, Physician.institution_id == Institution.id)
            .where(Institution.account.like("BK%")).group_by(Institution.id)
            .order_by(func.count(Physician.id).desc()).limit(count)).scalars().all()
        for institution in biggest:
            if db.session.query(AppUser).filter_by(username=institution.account).first() is None:
                create_account(institution.account, [roles.INSTITUTION], name=institution.name,
                               password=BENCH_PASSWORD, must_change=False,
                               institution=institution)
            names.append(institution.account)
        db.session.commit()
    return names


async def login(client, user, recorder):
    _status, _location, page, _elapsed = await client.request(user, "GET", "/login/", recorder,
                                                               "login_page")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'id="csrf_token"[^>]*value="([^"]+)"', page)
    await client.request(user, "POST", "/login/", recorder, "login", expect=(302,), data={
        "kind": "staff", "username": user.username, "password": BENCH_PASSWORD, "agree": "y",
        "csrf_token": token.group(1)})


async def run(args, app_server, hello_server, users, postgres):
    import aiohttp

    recorder = Recorder()
    client = Client(aiohttp, app_server.base, args.clients, args.request_timeout)
    hello = Client(aiohttp, hello_server.base, args.clients, args.request_timeout)
    out = {"rounds": []}
    try:
        for user in users:
            await login(client, user, recorder)
        # Each page once per user, checked: the roster's rows and the home page, not a login.
        for user in users:
            for path in PAGES:
                _s, _l, body, _e = await client.request(user, "GET", path, recorder, "check")
                assert "login" not in _l and ("dk-row" in body or path == "/"), path

        async def page(user, k):
            path = PAGES[(k + user.index) % len(PAGES)]
            return (await client.request(user, "GET", path, recorder, path))[3]

        async def bare(user, _k):
            return (await hello.request(None, "GET", "/", recorder, "hello"))[3]

        for number in range(args.rounds):
            for name, action, server in (("app", page, app_server),
                                         ("hello", bare, hello_server)):
                meter = CpuMeter(server.proc.pid, postgres and name == "app", redis=False)
                result = await closed_loop(client if name == "app" else hello, users,
                                           args.seconds, args.warmup, action, recorder, name,
                                           meter=meter)
                cpu = meter.workers + meter.pg
                result["cpu_ms_per_request"] = round(cpu * 1000 / max(result["requests"], 1), 2)
                result["meter"] = meter.as_dict()
                result["round"] = number + 1
                out["rounds"].append(result)
                print(f"  round {number + 1} {name:5} {result['rps']:7.1f} req/s  p50 "
                      f"{result.get('p50_ms')} ms  p95 {result.get('p95_ms')} ms  cpu "
                      f"{result['cpu_ms_per_request']} ms/request  load "
                      f"{meter.load1[0]:.2f}", flush=True)
    finally:
        await client.close()
        await hello.close()
    out["errors"], out["error_examples"] = recorder.errors, recorder.examples
    return out


def _markdown(report):
    rounds = report["result"]["rounds"]
    lines = [f"# Institutions under gunicorn — {report['date']}", "",
             f"{report['clients']} logged-in institution clients (closed loop) alternating the "
             "institution's 医师 roster (`/physicianview/list/`) and home page (`/`), against "
             "a bare Flask route (bench/hello_app.py) under the same gunicorn settings "
             f"(`-w {report['workers']} -k {report['worker_class']} --threads "
             f"{report['threads']}`), 127.0.0.1, same run, {report['rounds']} rounds of "
             f"{report['seconds']:.0f} s each after {report['warmup']:.0f} s warm-up. Targets: "
             f"p95 ≤ {TARGET_P95_MS:.0f} ms and ≥ {TARGET_SHARE:.0%} of the bare-Flask rate.",
             "", f"Data: {report['database']} ({report['counts']}).", "",
             f"Machine: {report['machine']}", "",
             "| round | server | req/s | p50 ms | p95 ms | CPU ms / request | load average |",
             "|---|---|---|---|---|---|---|"]
    for r in rounds:
        lines.append(f"| {r['round']} | {r['kind']} | {r['rps']} | {r.get('p50_ms')} | "
                     f"{r.get('p95_ms')} | {r['cpu_ms_per_request']} | "
                     f"{', '.join(f'{x:.2f}' for x in r['meter']['loadavg_after'])} |")
    app = [r for r in rounds if r["kind"] == "app"]
    hello = [r for r in rounds if r["kind"] == "hello"]
    rate = sum(r["rps"] for r in app) / len(app)
    bare = sum(r["rps"] for r in hello) / len(hello)
    p95 = max(r.get("p95_ms", 0) for r in app)
    share = rate / bare if bare else 0
    verdict = "PASS" if p95 <= TARGET_P95_MS and share >= TARGET_SHARE else "FAIL"
    lines += ["", f"App {rate:.1f} req/s (worst p95 {p95} ms) against bare Flask "
              f"{bare:.1f} req/s: {share:.1%} — {verdict}.", "",
              f"Errors: {report['result']['errors'] or 'none'}"]
    return "\n".join(lines) + "\n", verdict


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=330000)
    parser.add_argument("--enrolled", type=float, default=0.8)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "dingkao-pages"))
    parser.add_argument("--database-url")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--request-timeout", type=float, default=60)
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--suffix", default="sqlite")
    args = parser.parse_args()
    url = args.database_url or (
        f"sqlite:///{Path(args.data_dir) / f'pages-{args.size}-enrolled{args.enrolled}.db'}")
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise SystemExit(f"no database at {url}: run bench/pages.py first")
    names = accounts(url, args.clients)
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for table in ("physician", "institution", "enrollment")}
    engine.dispose()
    postgres = url.startswith("postgresql")
    if postgres:
        find_postmaster(url)
    workdir = Path(tempfile.mkdtemp(prefix="dingkao-bench-load-"))
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(36),
        "CAPTCHA_ENABLED": "false", "LOGIN_RATE_LIMIT": "1000000 per minute",
        "AUTH_RATE_LIMIT": "1000000 per minute", "REDIS_URL": "",
        "DINGKAO_VAR_DIR": str(workdir / "var"), "UPLOAD_DIR": str(workdir / "uploads"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    })
    app_server = Gunicorn("run:app", env, args, workdir / "gunicorn-app.log")
    hello_server = Gunicorn("bench.hello_app:app", env, args, workdir / "gunicorn-hello.log")
    users = [Staff(k, name) for k, name in enumerate(names)]
    try:
        app_server.start(probe="/login/")
        hello_server.start(probe="/")
        print(f"  app on {app_server.base}, hello on {hello_server.base}, {len(users)} clients",
              flush=True)
        loop = asyncio.new_event_loop()
        try:
            result = loop.run_until_complete(run(args, app_server, hello_server, users,
                                                 postgres))
        finally:
            loop.close()
        result["server_log"] = app_server.log_findings()
    finally:
        app_server.stop()
        hello_server.stop()
    date = datetime.date.today().isoformat()
    report = {"date": date, "clients": len(users), "workers": args.workers,
              "worker_class": args.worker_class, "threads": args.threads,
              "rounds": args.rounds, "seconds": args.seconds, "warmup": args.warmup,
              "database": url.split("@")[-1], "counts": counts, "machine": machine_info(),
              "result": result}
    text_, verdict = _markdown(report)
    report["verdict"] = verdict
    output = Path(args.output_dir)
    name = f"load-{date}-{args.suffix}"
    (output / f"{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1,
                                                    default=str))
    (output / f"{name}.md").write_text(text_)
    print(text_)


if __name__ == "__main__":
    main()
