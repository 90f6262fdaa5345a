"""Who may see, print and revoke which certificates: every role against its own and another
tenant's certificate on every path (list, export, print, PDF, batch, batch job, revoke), and two
simultaneous prints making one certificate.

The demo jurisdiction: 龙华区 holds NX1008611 (王医生's hospital), 美兰区 (same city) holds
NX1008622, 滨海市 holds NX1008633; NX1008600 re-reviews NX1008611's physicians but did not
include them, so it prints none of their certificates."""
import re

import pytest

from app.extensions import db
from commands import certificate as certifying
from models import Certificate, Enrollment, Institution, Physician
from models import workflow
from security import scope
from tests.conftest import _token_from_session, flashes, post
from tests.helpers import burst, fresh, logged_in_clients
from tests.test_certificate import exported

# role -> (the institution whose certificate is its own, another tenant's institution)
TENANTS = {
    "physician": ("NX1008611", "NX1008622"),
    "institution": ("NX1008611", "NX1008622"),
    "district": ("NX1008611", "NX1008622"),
    "city": ("NX1008611", "NX1008633"),
    "province": ("NX1008611", None),
    "assessment": (None, "NX1008611"),
}


def _passed_at(account, name=None):
    query = db.session.query(Enrollment).join(Physician).join(
        Institution, Institution.id == Enrollment.institution_id).filter(
        Institution.account == account)
    if name:
        query = query.filter(Physician.name == name)
    enrollment = query.order_by(Enrollment.id).first()
    enrollment.procedure = "simple"
    workflow.force(enrollment, "awaiting_exam", reason="test set-up")
    workflow.apply(enrollment, "exam_passed")
    db.session.commit()
    return enrollment


@pytest.fixture()
def world(province):
    """A passed enrollment with its certificate at each of three institutions."""
    made = {}
    for account, name in (("NX1008611", "王医生"), ("NX1008622", None), ("NX1008633", None)):
        enrollment = _passed_at(account, name)
        certificate = certifying.issue(scope.SYSTEM, enrollment.id)
        made[account] = (enrollment.id, certificate.id, enrollment.physician.name,
                         certificate.number)
    return made


def test_lists_and_exports_show_only_the_roles_certificates(world, as_role):
    for role, (own, other) in TENANTS.items():
        if role == "physician":
            continue
        client = as_role(role)
        page = client.get("/certificates/").get_data(as_text=True)
        numbers = {row[10] for row in exported(client, {})[1:]}
        if own:
            assert world[own][3] in page and world[own][3] in numbers, role
        if other:
            assert world[other][3] not in page and world[other][3] not in numbers, role


@pytest.mark.parametrize("role", sorted(TENANTS))
def test_another_tenants_certificate_is_not_found_on_any_path(world, as_role, role):
    own, other = TENANTS[role]
    client = as_role(role)
    if own:
        enrollment_id, certificate_id, _name, _number = world[own]
        response = post(client, "/certificates/print", {"enrollment_id": enrollment_id})
        assert response.status_code == 302 and response.headers["Location"].endswith(
            f"/certificates/{certificate_id}/pdf"), (role, flashes(client))
        assert client.get(f"/certificates/{certificate_id}/pdf").status_code == 200
    if other is None:
        return
    enrollment_id, certificate_id, _name, _number = world[other]
    before = _snapshot()
    assert post(client, "/certificates/print",
                {"enrollment_id": enrollment_id}).status_code == 404, role
    assert client.get(f"/certificates/{certificate_id}/pdf").status_code == 404, role
    assert client.get(f"/certificates/{certificate_id}/pdf?download=1").status_code == 404
    if role != "physician":
        assert post(client, "/certificates/batch",
                    {"rowid": enrollment_id}).status_code == 404, role
        mixed = client.post("/certificates/batch", data={
            "csrf_token": _token_from_session(client),
            "rowid": [world["NX1008611"][0], enrollment_id]})
        assert mixed.status_code == 404, role
    revoke = client.get(f"/certificates/{certificate_id}/revoke")
    assert revoke.status_code in (403, 404), role
    assert post(client, f"/certificates/{certificate_id}/revoke",
                {"reason": "作弊"}).status_code in (403, 404), role
    assert _snapshot() == before
    from app import jobs

    assert jobs.queue().count == 0


def _snapshot():
    fresh()
    return sorted((c.id, c.revoked_at, c.number) for c in db.session.query(Certificate))


def test_only_administrations_above_revoke(world, as_role):
    _enrollment_id, certificate_id, _name, _number = world["NX1008611"]
    for role in ("physician", "institution", "assessment", "operator"):
        response = post(as_role(role), f"/certificates/{certificate_id}/revoke", {"reason": "x"})
        assert response.status_code in (403, 404), role
    # 美兰区 is not above NX1008611: not found.
    _enrollment_id, other_id, _name, _number = world["NX1008622"]
    assert post(as_role("district"), f"/certificates/{other_id}/revoke",
                {"reason": "x"}).status_code == 404
    assert _snapshot()[0][1] is None
    assert post(as_role("city"), f"/certificates/{certificate_id}/revoke",
                {"reason": "经认定考试作弊"}).status_code == 302


def test_the_operator_and_the_physician_do_not_reach_the_staff_pages(world, as_role):
    operator = as_role("operator")
    assert operator.get("/certificates/").status_code == 403
    assert post(operator, "/certificates/export", {}).status_code == 403
    doctor = as_role("physician")
    assert post(doctor, "/certificates/export", {}).status_code == 403
    assert post(doctor, "/certificates/batch", {"rowid": world["NX1008611"][0]}).status_code \
        == 403


def test_the_batch_job_acts_in_the_requesters_scope(world, province):
    """A job queued with certificates outside the user's scope (a forged queue entry) fails
    instead of printing them."""
    from app import jobs
    from models import AppUser

    user = db.session.query(AppUser).filter_by(username="NX1008611").one()
    with pytest.raises(Exception) as refused:
        jobs._print_certificates(user.id, [world["NX1008622"][1]], "http://localhost/")
    assert "404" in str(refused.value) or "Not Found" in str(refused.value)


def test_printing_without_the_csrf_token_is_refused(world, as_role):
    doctor = as_role("physician")
    response = doctor.post("/certificates/print", data={"enrollment_id": world["NX1008611"][0]})
    assert response.status_code == 400


def test_two_simultaneous_first_prints_make_one_certificate(province):
    enrollment = _passed_at("NX1008611", "王医生")
    clients = logged_in_clients(province, 4, "physician")
    outcomes = burst(province, [(client, "/certificates/print", {"enrollment_id": enrollment.id})
                                for client in clients])
    assert not [o for o in outcomes if o.server_error], [o.error for o in outcomes]
    assert db.session.query(Certificate).filter_by(enrollment_id=enrollment.id).count() == 1
    targets = {re.sub(r"\?.*", "", o.location) for o in outcomes}
    assert len(targets) == 1 and "/pdf" in targets.pop()
