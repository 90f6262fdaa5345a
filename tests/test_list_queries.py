"""A list page asks the database the same number of times whatever its rows: what a row shows
through a relationship is loaded for the whole page at once (``scoped(Model, eager=…)``)."""
from sqlalchemy import event

from app.extensions import db
from models import Cycle, Enrollment, Physician


def _statements(client, url):
    client.get(url)  # warm: caches, first-request work
    seen = []

    def count(*_args):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen)


def _more_enrollments(count):
    from app import demo
    from models import roster

    demo.generate_bulk(count, 1)
    enrolled = db.session.query(Enrollment.physician_id)
    fresh = db.session.query(Physician).filter(~Physician.id.in_(enrolled)).all()
    roster.include(fresh, Cycle.current())
    db.session.commit()


def _rows(client, url):
    return client.get(url).get_data(as_text=True).count("<tr")


def test_a_list_page_costs_the_same_queries_with_more_rows(as_role):
    client, url = as_role("province"), "/enrollmentview/list/"
    before, rows_before = _statements(client, url), _rows(client, url)
    _more_enrollments(12)
    assert _rows(client, url) > rows_before  # the page shows more rows (up to its 20)
    assert _statements(client, url) == before
