"""A physician's files follow the physician as they are now (issue: files after a transfer):
the institution they practise at, its administrations and the assessment institution that
re-reviews it read them; a former institution does not read what is uploaded after the move."""
from app.extensions import db
from models import Physician
from tests.conftest import post


def _file_of(physician, name):
    from app import storage

    stored = storage._store_bytes(b"%PDF-1.4 " + name.encode(), "application/pdf", name,
                                  "licence", physician_id=physician.id)
    db.session.commit()
    return stored.id


def test_a_transferred_physicians_new_files_are_not_the_former_institutions(as_role):
    wang = db.session.query(Physician).filter_by(name="王医生").one()
    before = _file_of(wang, "调离前.pdf")
    hospital, clinic = as_role("institution"), as_role("assessment")
    readers = {"institution": 200, "assessment": 200, "district": 200, "city": 200,
               "province": 200}
    for role, code in readers.items():
        assert as_role(role).get(f"/files/{before}").status_code == code, role
    assert clinic.get(f"/files/{before}").status_code == 200  # NX1008600 assesses NX1008611

    done = post(hospital, f"/physicianview/transfer-out/{wang.id}",
                {"reason": "resigned", "detail": "调往美兰区"})
    assert done.status_code == 302
    meilan = as_role("institution").application.test_client()
    from tests.conftest import login

    assert login(meilan, "NX1008622").status_code == 302
    taken = post(meilan, "/roster/transfer-in/", {"id_number": wang.id_number, "confirm": "1"})
    assert taken.status_code == 302
    db.session.expire_all()
    wang = db.session.get(Physician, wang.id)
    assert wang.institution.account == "NX1008622"

    after = _file_of(wang, "调入后.pdf")
    assert meilan.get(f"/files/{after}").status_code == 200
    assert hospital.get(f"/files/{after}").status_code == 404
    assert hospital.get(f"/files/{before}").status_code == 404
    assert as_role("district").get(f"/files/{after}").status_code == 404  # 龙华区: not theirs
