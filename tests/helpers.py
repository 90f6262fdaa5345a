"""Helpers shared by the race tests (tests/test_races.py) and the schedule-window tests
(tests/test_windows.py).

Everything here drives the real HTTP views through Flask test clients; the database is only
read (to check what happened) or used to move a schedule window, never to perform an action.
"""
import datetime
import html
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from flask import has_app_context
from sqlalchemy import event, func

from app.extensions import db
from tests.conftest import ACCOUNTS, _token_from_session, flashes, login

DAY = datetime.timedelta(days=1)
SWITCH_INTERVAL = 0.0001  # seconds between GIL switches during a burst
LATENCY = 0.002  # seconds each statement of a burst's requests waits
BURST_THREAD = "burst-"


# --- reading the database afresh -----------------------------------------------------------


def fresh():
    """Forget what the test's own session has loaded: the next query reads the database.

    The test's session is also the one its requests use (they share the fixture's app context),
    so anything set up through it must have been committed already."""
    db.session.rollback()
    db.session.expire_all()


def tally_and_recount():
    """({(cycle, institution, state): n} from EnrollmentTally, the same recounted from the
    enrollments), zero counts left out; with the roll-up per region of the states too, keyed
    ("region", cycle, administration, state)."""
    from models import Enrollment, EnrollmentTally, Institution, RegionTally
    from models.enrollment import ENROLLMENT_STATE
    from models.tally import chain

    fresh()
    tally = {(t.cycle_id, t.institution_id, t.state): t.count
             for t in db.session.query(EnrollmentTally) if t.count}
    recount = {(c, i, s): n for c, i, s, n in db.session.query(
        Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state,
        func.count(Enrollment.id),
    ).group_by(Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state)}
    tally.update({("region", t.cycle_id, t.administration_id, t.measure): t.count
                  for t in db.session.query(RegionTally).filter(
                      RegionTally.measure.in_(ENROLLMENT_STATE.values())) if t.count})
    paths = dict(db.session.query(Institution.id, Institution.admin_path))
    for (c, i, s), n in list(recount.items()):
        for admin_id in chain(paths[i]):
            key = ("region", c, admin_id, s)
            recount[key] = recount.get(key, 0) + n
    return tally, recount


def tally_mismatch():
    """{(cycle, institution, state): (tally, recount)} wherever the two differ (and
    {("region", cycle, administration, state): …} for the roll-up)."""
    tally, recount = tally_and_recount()
    return {key: (tally.get(key, 0), recount.get(key, 0))
            for key in sorted(set(tally) | set(recount), key=str)
            if tally.get(key, 0) != recount.get(key, 0)}


def assert_tally_matches_recount():
    """The per-(cycle, institution, state) tally and its roll-up per region, which the home
    pages read, equal a recount."""
    wrong = tally_mismatch()
    assert not wrong, "EnrollmentTally differs from a recount, (tally, recount) per " \
                      f"(cycle, institution, state): {wrong}"


class Findings:
    """Every broken guarantee of a burst, reported together (one hides none of the others)."""

    def __init__(self, outcomes):
        self.outcomes = outcomes
        self.broken = []

    def expect(self, ok, message):
        if not ok:
            self.broken.append(message)
        return ok

    def no_server_error(self):
        errors = [o for o in self.outcomes if o.server_error]
        if errors:
            first = (errors[0].error or str(errors[0].status)).splitlines()[0]
            self.broken.append(f"{len(errors)} of {len(self.outcomes)} requests failed with a "
                               f"server error (a 500), the first: {first[:300]}")

    def tally_matches_recount(self):
        wrong = tally_mismatch()
        self.expect(not wrong, "EnrollmentTally differs from a recount, (tally, recount) per "
                               f"(cycle, institution, state): {wrong}")

    def losers_were_told(self, winners):
        silent = [o for o in self.outcomes
                  if o not in winners and not o.server_error and not o.told]
        self.expect(not silent, f"{len(silent)} refused requests got no message: {silent[:3]}")

    def check(self):
        assert not self.broken, "\n".join(
            [f"{len(self.broken)} guarantees broken:"] + [f"- {b}" for b in self.broken]
            + [f"responses: {summary(self.outcomes)}"])


# --- clients -------------------------------------------------------------------------------


def logged_in_client(app, role=None, username=None, kind="staff"):
    """A new test client logged in as a demo role ("institution", "physician" …) or account."""
    from app.demo import DEMO_PHYSICIAN_ID

    client = app.test_client()
    if role == "physician":
        username, kind = DEMO_PHYSICIAN_ID, "physician"
    elif role is not None:
        username = ACCOUNTS[role]
    response = login(client, username, kind=kind)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def logged_in_clients(app, count, role=None, username=None, kind="staff"):
    """``count`` independent clients (each its own cookie jar and session), all logged in."""
    return [logged_in_client(app, role, username, kind) for _ in range(count)]


# --- a burst of simultaneous requests ------------------------------------------------------


@dataclass
class Outcome:
    """What one request of a burst got back."""

    index: int
    url: str
    status: int = None
    location: str = ""
    body: str = ""
    error: str = None  # an exception out of the view: a 500 in production
    had_app_context: bool = None  # whether the thread started inside an app context
    messages: list = field(default_factory=list)  # flashed to the client's session

    @property
    def server_error(self):
        return self.error is not None or (self.status or 500) >= 500

    @property
    def told(self):
        """The messages the user was given: flashed ones and the page's error box."""
        return self.messages + form_errors(self.body)

    def __repr__(self):
        shown = self.error or f"{self.status} {self.location} {self.messages}"
        return f"<#{self.index} {shown}>"


def _network_latency(*_args):
    """Each statement of a burst's request waits a moment first, as a round trip to a database
    server does (the GIL is released meanwhile); without it one thread's request often runs
    from start to commit before the others have started theirs."""
    if threading.current_thread().name.startswith(BURST_THREAD):
        time.sleep(LATENCY)


def burst(app, jobs, timeout=60):
    """Fire ``jobs`` — (client, url, form data) — at the same time, one thread each.

    Each client's CSRF token is read beforehand, so that a thread does exactly one POST; the
    threads then wait at a barrier and are released together. A thread starts outside the test's
    app context (contextvars are per thread), so its request pushes its own app context and gets
    its own database session, as in production; should a thread ever start inside one, it pushes
    a fresh ``app.app_context()`` of its own.

    Returns an Outcome per job, in order, with the messages each client was flashed."""
    prepared = [(client, url, {"csrf_token": _token_from_session(client), **(data or {})})
                for client, url, data in jobs]
    db.session.commit()  # nothing of the test's own session holds a lock during the burst
    barrier = threading.Barrier(len(prepared))
    outcomes = [Outcome(index, url) for index, (_, url, _) in enumerate(prepared)]

    def run(index, client, url, data):
        outcome = outcomes[index]
        outcome.had_app_context = has_app_context()
        try:
            barrier.wait(timeout)
            if outcome.had_app_context:
                with app.app_context():
                    response = client.post(url, data=data)
            else:
                response = client.post(url, data=data)
            outcome.status = response.status_code
            outcome.location = response.headers.get("Location", "")
            outcome.body = response.get_data(as_text=True)
        except Exception as error:  # noqa: BLE001 - every failure is reported by the test
            outcome.error = "".join(traceback.format_exception_only(error)).strip()
            outcome.error += "\n" + "".join(traceback.format_tb(error.__traceback__)[-3:])

    threads = [threading.Thread(target=run, args=(index, *job), daemon=True,
                                name=f"{BURST_THREAD}{index}")
               for index, job in enumerate(prepared)]
    # Threads take turns on the GIL every 5 ms by default: long enough for a whole short request
    # to run alone. Switching far more often interleaves the requests as truly parallel workers
    # (separate processes, as in production) would.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    event.listen(db.engine, "before_cursor_execute", _network_latency)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
    finally:
        event.remove(db.engine, "before_cursor_execute", _network_latency)
        sys.setswitchinterval(switch_interval)
    assert not any(thread.is_alive() for thread in threads), "a request of the burst hung"
    for outcome, (client, _, _) in zip(outcomes, prepared):
        outcome.messages = flashes(client)
    fresh()
    return outcomes


def summary(outcomes):
    """A short description of a burst's responses, for assertion messages."""
    counts = {}
    for o in outcomes:
        key = "exception " + o.error.splitlines()[0][:120] if o.error else (
            f"{o.status} {o.location.split('?')[0]}")
        counts[key] = counts.get(key, 0) + 1
    return counts


# --- schedule windows ----------------------------------------------------------------------


def window(kind):
    from models import ScheduleWindow
    from models import Cycle

    return db.session.query(ScheduleWindow).filter_by(cycle_id=Cycle.current().id,
                                                      kind=kind).one()


def place_window(kind, when):
    """Move the current cycle's window ``kind``: "before" (it opens in the future), "after"
    (it closed in the past) or "open" (today is inside it). Returns (start, end)."""
    today = datetime.date.today()
    start, end = {
        "before": (today + 3 * DAY, today + 30 * DAY),
        "after": (today - 30 * DAY, today - 3 * DAY),
        "open": (today - 3 * DAY, today + 30 * DAY),
    }[when]
    row = window(kind)
    row.start_date, row.end_date = start, end
    db.session.commit()
    return start, end


def shows_window(text, start, end):
    """Whether the text names the window, as the refusals do: 2026-04-13 ~ 2026-05-06."""
    return str(start) in text and str(end) in text


def form_errors(page):
    """The texts of a page's error box (the views' refusals that re-show the form, 400)."""
    return [html.unescape(m).strip() for m in re.findall(r'id="form-error">(.*?)</div>', page,
                                                         re.S)]


def clear_flashes(client):
    with client.session_transaction() as session:
        session.pop("_flashes", None)


def told(client, response):
    """What the user was told by ``response``: the messages flashed to the client (cleared
    afterwards, so the next call sees only new ones) and the page's error box."""
    messages = flashes(client)
    clear_flashes(client)
    return messages + form_errors(response.get_data(as_text=True))


def count_in(pattern, messages):
    """Sum of the numbers a pattern with one group finds in the messages."""
    return sum(int(m.group(1)) for message in messages for m in re.finditer(pattern, message))
