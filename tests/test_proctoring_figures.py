"""监考管理 at province scale: each attempt keeps its risk and its lowest similarity
(``ExamAttempt.proctor_risk`` / ``proctor_lowest``), updated in the same transaction as every
face-check result, page event and purge, so the list orders and filters on an index instead of
aggregating every snapshot of the province; 科室 is searched as one types, in scope."""
import datetime
import json

import pytest

from app.extensions import db
from models import ExamAttempt, ProctorCase, Snapshot
from tests.test_exam import _enrollment
from tests.test_proctoring import (  # noqa: F401  (fixtures)
    OTHER_PERSON,
    _verification_required,
    csrf_headers,
    run_checks,
    sitting,
    snapshot,
    started,
)


def recomputed(attempt_id):
    """The risk and lowest similarity, recomputed here from the attempt's rows (the manual's
    order: the lowest similarity, then several people, no face, low similarity, looking away,
    a stopped camera, leaving the page)."""
    shots = db.session.scalars(db.select(Snapshot).where(
        Snapshot.attempt_id == attempt_id)).all()
    case = db.session.scalars(db.select(ProctorCase).where(
        ProctorCase.attempt_id == attempt_id)).first()
    similarities = [s.similarity for s in shots if s.similarity is not None]
    lowest = min(similarities) if similarities else None
    risk = ((1 - (lowest if lowest is not None else 1)) * 100
            + 20 * sum(s.multiple_faces for s in shots) + 10 * sum(s.no_face for s in shots)
            + 5 * sum(s.low_similarity for s in shots) + 3 * sum(s.looking_away for s in shots)
            + (10 * case.camera_stopped + 2 * case.page_hidden if case else 0))
    return risk, lowest


def stored(attempt_id):
    db.session.expire_all()
    attempt = db.session.get(ExamAttempt, attempt_id)
    return attempt.proctor_risk, attempt.proctor_lowest


def assert_kept(attempt_id):
    risk, lowest = stored(attempt_id)
    expected_risk, expected_lowest = recomputed(attempt_id)
    assert risk == pytest.approx(expected_risk) and lowest == pytest.approx(expected_lowest), (
        (risk, lowest), (expected_risk, expected_lowest))
    return risk


def event(client, attempt_id, name):
    response = client.post(f"/me/exams/attempt/{attempt_id}/event",
                           data=json.dumps({"event": name}), content_type="application/json",
                           headers=csrf_headers(client))
    assert response.status_code == 200


def test_the_attempts_risk_follows_every_change_of_its_snapshots(as_role, sitting):
    from app.facecheck import Check
    from commands import proctoring

    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    assert stored(attempt_id) == (0, None)
    # A snapshot taken: not checked yet, nothing moves.
    assert snapshot(physician, attempt_id).status_code == 200
    assert snapshot(physician, attempt_id, OTHER_PERSON).status_code == 200
    assert snapshot(physician, attempt_id).status_code == 200
    assert assert_kept(attempt_id) == 0
    first, second, third = db.session.scalars(db.select(Snapshot.id).where(
        Snapshot.attempt_id == attempt_id).order_by(Snapshot.id)).all()
    # The face-check job's results, one by one (the real job for the first).
    from app import jobs

    jobs.check_snapshot(first)
    after_first = assert_kept(attempt_id)
    proctoring.store_check(second, Check(faces=2, similarity=0.31,
                                         flags=["multiple_faces", "low_similarity"]))
    after_second = assert_kept(attempt_id)
    assert after_second > after_first and stored(attempt_id)[1] == pytest.approx(0.31)
    proctoring.store_check(third, Check(faces=0, flags=["no_face", "looking_away"]))
    after_third = assert_kept(attempt_id)
    assert after_third == pytest.approx(after_second + 13)
    # A result stored twice changes nothing.
    assert proctoring.store_check(third, Check(faces=1, similarity=0.01)) == 0
    assert assert_kept(attempt_id) == pytest.approx(after_third)
    # The page's events.
    event(physician, attempt_id, "page_hidden")
    event(physician, attempt_id, "camera_stopped")
    assert assert_kept(attempt_id) == pytest.approx(after_third + 12)
    # The retention purge: the snapshots go, the page's events stay.
    cycle = _enrollment().cycle
    assert proctoring.purge_snapshots(today=cycle.end_date + datetime.timedelta(days=181)) == 3
    assert assert_kept(attempt_id) == pytest.approx(12)
    assert stored(attempt_id)[1] is None


def test_the_list_orders_and_filters_by_the_stored_figures(as_role, sitting):
    from app.facecheck import Check
    from commands import proctoring

    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    snapshot(physician, attempt_id)
    shot = db.session.scalars(db.select(Snapshot.id)).one()
    proctoring.store_check(shot, Check(faces=1, similarity=0.35, flags=["low_similarity"]))
    # Two more attempts of the same enrollment, one riskier, one quieter (as stored).
    base = db.session.get(ExamAttempt, attempt_id)
    riskier, quieter = (ExamAttempt(paper_id=base.paper_id, enrollment_id=base.enrollment_id,
                                    number=number, started_at=base.started_at,
                                    question_ids=[], option_orders={}, proctor_risk=risk,
                                    proctor_lowest=lowest)
                        for number, risk, lowest in ((2, 500.0, 0.2), (3, 1.0, 0.99)))
    db.session.add_all([riskier, quieter])
    db.session.commit()
    page = as_role("institution").get("/proctoring/").get_data(as_text=True)
    order = [page.index(f'id="attempt-{a}"') for a in (riskier.id, attempt_id, quieter.id)]
    assert order == sorted(order)
    assert "相似度低 1" in page and "1/1" in page and "35%" in page
    filtered = as_role("institution").get("/proctoring/?similarity_below=30").get_data(
        as_text=True)
    assert f'id="attempt-{riskier.id}"' in filtered
    assert f'id="attempt-{attempt_id}"' not in filtered
    assert f'id="attempt-{quieter.id}"' not in filtered


def test_the_department_is_searched_as_one_types_in_scope(as_role, sitting):
    from models import Department

    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    mine = _enrollment().physician.department
    institution = as_role("institution")
    page = institution.get("/proctoring/").get_data(as_text=True)
    assert "dk-related-search" in page and "/proctoring/related/department" in page
    assert f">{mine.name}</option>" not in page  # no select of every department
    found = institution.get("/proctoring/related/department?q=" + mine.name[:1]).get_json()
    assert {"id": mine.name, "text": mine.name} in found
    assert institution.get("/proctoring/related/department?id=" + mine.name).get_json() == [
        {"id": mine.name, "text": mine.name}]
    # Another institution's own department names are not offered.
    other = db.session.scalars(db.select(Department).where(
        Department.institution_id != mine.institution_id,
        Department.name.not_in(db.select(Department.name).where(
            Department.institution_id == mine.institution_id)))).first()
    if other is not None:
        assert institution.get("/proctoring/related/department?q=" + other.name).get_json() \
            == []
    # The filter by name.
    assert f'id="attempt-{attempt_id}"' in institution.get(
        "/proctoring/?department=" + mine.name).get_data(as_text=True)
    assert f'id="attempt-{attempt_id}"' not in institution.get(
        "/proctoring/?department=无此科室").get_data(as_text=True)
    # The physician reads no department list here.
    assert physician.get("/proctoring/related/department?q=").status_code in (302, 403)


def test_a_broad_scope_reads_the_same_rows_by_the_risk_index(as_role, sitting):
    """Past the list's cap the scope is asked per attempt (EXISTS) so the risk index leads:
    the same rows in the same order, under every filter."""
    from models import AppUser
    from security import scope
    from views.proctoring import rows_query

    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    base = db.session.get(ExamAttempt, attempt_id)
    for number, risk, lowest in ((2, 500.0, 0.2), (3, 1.0, 0.99), (4, 40.0, 0.6)):
        db.session.add(ExamAttempt(paper_id=base.paper_id, enrollment_id=base.enrollment_id,
                                   number=number, started_at=base.started_at, question_ids=[],
                                   option_orders={}, proctor_risk=risk, proctor_lowest=lowest))
    db.session.commit()
    mine = _enrollment().physician
    for username in ("NX1008611", "NX1008622"):
        actor = scope.actor_for(db.session.scalars(db.select(AppUser).where(
            AppUser.username == username)).one())
        for args in ({}, {"similarity_below": "70"}, {"name": mine.name[:1]},
                     {"department": mine.department.name}, {"department": "无此科室"},
                     {"status": "clear"}, {"paper": str(base.paper_id)}):
            narrow = [row.ExamAttempt.id for row in db.session.execute(
                rows_query(actor, args))]
            broad = [row.ExamAttempt.id for row in db.session.execute(
                rows_query(actor, args, broad=True))]
            assert narrow == broad, (username, args)
            if username == "NX1008611" and not args:
                assert len(narrow) == 4 and narrow[0] != attempt_id
