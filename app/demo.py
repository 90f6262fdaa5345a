"""Demo data: a small demo province with one account per role, and a bulk generator for
province-scale data (330,000 physicians) with bulk inserts.

Demo accounts and their passwords are listed in README.md.
"""
import datetime
import random

from flask_appbuilder.security.sqla.models import Role, assoc_user_role
from sqlalchemy import insert, select, text

from app.extensions import db
from models import (
    Administration,
    AppUser,
    Cycle,
    Department,
    Institution,
    Physician,
    ScheduleWindow,
    Subject,
)
from models.catalogue import seed_catalogue
from security import idcard, roles
from security.accounts import create_account
from security.passwords import hash_password, initial_password_hash

DEMO_PASSWORD = "Demo@2026"
DEMO_PROVINCE = "演示省卫生健康委员会"
DEMO_PHYSICIAN_ID = idcard.make("460100", datetime.date(1985, 3, 12), 42)
FIRST_LOGIN_PHYSICIAN_ID = idcard.make("460100", datetime.date(1990, 7, 1), 17)

EPOCH = datetime.date(1955, 1, 1)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞建国志文斌宁丹晶颖琳"


_HASHES = {}


def _demo_hash():
    # One scrypt hash for every demo staff account: hashing each would slow every test.
    if DEMO_PASSWORD not in _HASHES:
        _HASHES[DEMO_PASSWORD] = hash_password(DEMO_PASSWORD)
    return _HASHES[DEMO_PASSWORD]


def _admin(name, level, parent=None, code=None, contact=None, phone=None):
    node = Administration(name=name, level=level, parent=parent, region_code=code,
                          contact=contact, phone=phone)
    db.session.add(node)
    db.session.flush()
    node.assign_path()
    return node


def _institution(name, account, admin, **fields):
    inst = Institution(name=name, account=account, **fields)
    inst.place_under(admin)
    db.session.add(inst)
    db.session.flush()
    return inst


def refusal(confirmed):
    """Why `flask dingkao demo` must not run here, or None. The demo's accounts (admin
    included) share a password published in the README: never on a real province's data, and
    only when the operator says they know it."""
    if not confirmed:
        return ("the demo accounts (admin included) all share the password published in the "
                f"README ({DEMO_PASSWORD}); run it again with --yes-demo-accounts if this is a "
                "demo or test database")
    if real_data_present():
        return ("this database holds a real province's data (administrations, institutions, "
                "physicians or accounts that are not the demo's): the demo is not added to it")
    return None


def real_data_present():
    """Whether anything but the demo province (and its accounts) is in the database."""
    root = db.session.query(Administration).filter_by(name=DEMO_PROVINCE,
                                                      parent_id=None).first()
    if root is None:
        return any(db.session.query(model.id).first() is not None
                   for model in (Administration, Institution, Physician, AppUser))
    outside = root.path + "%"
    return (db.session.query(Administration.id).filter(
                ~Administration.path.like(outside)).first() is not None
            or db.session.query(Institution.id).filter(
                ~Institution.admin_path.like(outside)).first() is not None)


def _subjects(*names):
    return db.session.query(Subject).filter(Subject.name.in_(names)).all()


def demo_cycle(province, today=None):
    """The current cycle with every window placed around today, so each stage can be tried."""
    today = today or datetime.date.today()
    cycle = Cycle(
        name=f"{today.year - 2}-{today.year}年度医师定期考核",
        start_date=datetime.date(today.year - 2, 1, 1),
        end_date=datetime.date(today.year, 12, 31),
        cutoff_date=datetime.date(today.year - 1, 12, 31),
        is_current=True,
        administration=province,
    )
    db.session.add(cycle)
    day = datetime.timedelta(days=1)
    spans = {
        "assessment_application": (-10, 20),
        "enrollment": (-5, 30),
        "enrollment_review": (-5, 35),
        "exemption_application": (-5, 35),
        "exemption_review": (-5, 40),
        "exam": (-5, 45),
        "makeup_exam": (50, 60),
    }
    for kind, (start, end) in spans.items():
        db.session.add(ScheduleWindow(cycle=cycle, kind=kind, start_date=today + start * day,
                                      end_date=today + end * day))
    return cycle


class DemoRefused(RuntimeError):
    """The demo is not added to a database that holds a real province."""


def seed_demo_province():
    """Create the demo province once; a second call changes nothing. Never on a real
    province's database (`make run` pointed at it by DATABASE_URL, a mistyped URL)."""
    if real_data_present():
        raise DemoRefused(refusal(confirmed=True))
    seed_catalogue(db.session)
    if db.session.query(Administration).filter_by(name=DEMO_PROVINCE).first():
        db.session.commit()
        return
    province = _admin(DEMO_PROVINCE, "province", code="460000", contact="省考核办",
                      phone="0898-65300000")
    city = _admin("演示市卫生健康委员会", "city", province, "460100", "市医政科", "0898-66300000")
    city2 = _admin("滨海市卫生健康委员会", "city", province, "460200", "医政科", "0898-88200000")
    district = _admin("龙华区卫生健康委员会", "district", city, "460106", "区医政股", "0898-66500000")
    district2 = _admin("美兰区卫生健康委员会", "district", city, "460108", "区医政股", "0898-65800000")
    district3 = _admin("海湾区卫生健康委员会", "district", city2, "460202", "区医政股", "0898-88600000")

    common = dict(address_province="演示省", level="level3", grade="grade_a", beds=1200,
                  legal_representative="张建国", contact="李娜", phone="0898-66000001",
                  mobile="13800000001")
    assessor = _institution("演示省人民医院", "NX1008600", city, type="medical",
                            address_city="演示市", address_street="人民大道1号",
                            is_assessment=True, **common)
    hospital = _institution("演示市第一人民医院", "NX1008611", district, type="medical",
                            address_city="演示市", address_district="龙华区",
                            address_street="健康路101号", assessment_institution=assessor,
                            **common)
    clinic = _institution("美兰区阳光口腔诊所", "NX1008622", district2, type="clinic",
                          address_city="演示市", address_district="美兰区", level="unrated",
                          grade="ungraded", beds=0, legal_representative="陈明",
                          contact="陈明", mobile="13800000002", assessment_institution=assessor)
    village = _institution("海湾区渔村卫生室", "NX1008633", district3, type="village_clinic",
                           address_city="滨海市", address_district="海湾区", level="unrated",
                           grade="ungraded", beds=0, legal_representative="吴海",
                           contact="吴海", mobile="13800000003")
    _institution("演示市疾病预防控制中心", "NX1008644", city, type="disease_control",
                 address_city="演示市", **common)

    departments = {}
    for inst, specs in (
        (hospital, [("内科", ["呼吸内科专业", "消化内科专业", "心血管内科专业"]),
                    ("外科", ["普通外科专业", "骨科专业"]), ("儿科", ["新生儿专业"])]),
        (assessor, [("内科", ["呼吸内科专业", "神经内科专业"]), ("急诊科", ["急诊医学科"])]),
        (clinic, [("口腔科", ["牙体牙髓病专业", "口腔正畸专业"])]),
        (village, [("全科", ["全科医疗科"])]),
    ):
        for name, subject_names in specs:
            dept = Department(institution=inst, name=name, subjects=_subjects(*subject_names))
            db.session.add(dept)
            departments[(inst.account, name)] = dept
    departments[("NX1008611", "儿科")].enabled = False
    db.session.flush()

    cycle = demo_cycle(province)
    physicians = []
    rng = random.Random(2026)
    for index in range(24):
        inst, dept_name = [(hospital, "内科"), (hospital, "外科"), (assessor, "内科"),
                           (clinic, "口腔科"), (village, "全科")][index % 5]
        birth = datetime.date(1965 + index, 1 + index % 12, 1 + index % 27)
        number = idcard.make("460100", birth, 100 + index)
        physicians.append(_physician(rng, number, inst, departments[(inst.account, dept_name)]))
    demo_doctor = _physician(rng, DEMO_PHYSICIAN_ID, hospital,
                             departments[("NX1008611", "内科")], name="王医生")
    first_login = _physician(rng, FIRST_LOGIN_PHYSICIAN_ID, hospital,
                             departments[("NX1008611", "外科")], name="李新")
    db.session.flush()
    db.session.flush()
    from models import roster

    roster.include(physicians[:12] + [demo_doctor, first_login], cycle)

    pw = _demo_hash()
    create_account("admin", [roles.SYSADMIN], name="系统管理员", password_hash=pw, must_change=False)
    create_account("ops", [roles.OPERATOR], name="系统运维", password_hash=pw, must_change=False)
    create_account("province", [roles.PROVINCE], name="省卫健委", password_hash=pw,
                   must_change=False, administration=province)
    create_account("city", [roles.CITY], name="市卫健委", password_hash=pw, must_change=False,
                   administration=city)
    create_account("district", [roles.DISTRICT], name="龙华区卫健委", password_hash=pw,
                   must_change=False, administration=district)
    for inst in (hospital, clinic, village):
        create_account(inst.account, [roles.INSTITUTION], name=inst.name, password_hash=pw,
                       must_change=False, institution=inst)
    create_account(assessor.account, [roles.INSTITUTION, roles.ASSESSMENT], name=assessor.name,
                   password_hash=pw, must_change=False, institution=assessor)
    doctor_user = create_account(demo_doctor.id_number, [roles.PHYSICIAN], name=demo_doctor.name,
                                 password_hash=pw, must_change=False, physician=demo_doctor)
    doctor_user.mobile = "13900000001"
    doctor_user.mobile_bound_at = datetime.datetime.now()
    create_account(first_login.id_number, [roles.PHYSICIAN], name=first_login.name,
                   physician=first_login)
    for physician in physicians:
        create_account(physician.id_number, [roles.PHYSICIAN], name=physician.name,
                       physician=physician)
    db.session.commit()


def _physician(rng, number, inst, dept, name=None):
    physician = Physician(
        name=name or rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
        id_number=number,
        gender=idcard.gender(number),
        birth_date=idcard.birth_date(number),
        institution=inst,
        department=dept,
        practice_category="dental" if dept.name == "口腔科" else "clinical",
        level="physician",
        first_registration_date=datetime.date(2005 + rng.randint(0, 15), rng.randint(1, 12), 1),
        certificate_date=datetime.date(2010 + rng.randint(0, 10), rng.randint(1, 12), 1),
        certificate_no=f"1104600{rng.randint(10**8, 10**9 - 1)}",
    )
    db.session.add(physician)
    return physician


def generate_bulk(physician_count, institution_count, chunk=5000, seed=7):
    """Add ``physician_count`` physicians (with accounts) over ``institution_count`` new
    institutions spread across the demo districts, in multi-row inserts."""
    from models.tally import add_roster

    rng = random.Random(seed)
    districts = db.session.query(Administration).filter_by(level="district").all()
    if not districts:
        raise RuntimeError("run seed_demo_province first")
    physician_role_id = db.session.execute(
        select(Role.id).where(Role.name == roles.PHYSICIAN)
    ).scalar_one()
    start_inst = (db.session.query(db.func.max(Institution.id)).scalar() or 0) + 1
    inst_rows, dept_rows = [], []
    for offset in range(institution_count):
        inst_id = start_inst + offset
        admin = districts[offset % len(districts)]
        inst_rows.append(dict(id=inst_id, name=f"批量医疗机构{inst_id:05d}",
                              account=f"BK{inst_id:07d}", administration_id=admin.id,
                              admin_path=admin.path, type="medical", level="level2",
                              grade="grade_b", beds=100, is_assessment=False,
                              application_open=False))
    db.session.execute(insert(Institution), inst_rows)
    start_dept = (db.session.query(db.func.max(Department.id)).scalar() or 0) + 1
    dept_names = ["内科", "外科", "妇产科", "儿科", "急诊科", "口腔科"]
    for offset, row in enumerate(inst_rows):
        for k, name in enumerate(dept_names):
            dept_rows.append(dict(id=start_dept + offset * len(dept_names) + k,
                                  institution_id=row["id"], name=name, enabled=True))
    db.session.execute(insert(Department), dept_rows)

    password = initial_password_hash()
    start_phys = (db.session.query(db.func.max(Physician.id)).scalar() or 0) + 1
    start_user = (db.session.query(db.func.max(AppUser.id)).scalar() or 0) + 1
    now = datetime.datetime.now()
    for base in range(0, physician_count, chunk):
        phys_rows, user_rows, role_rows = [], [], []
        for i in range(base, min(base + chunk, physician_count)):
            pid, uid = start_phys + i, start_user + i
            inst_index = i % institution_count
            # (region, birth, sequence) is a bijection of i, so numbers never collide.
            birth = EPOCH + datetime.timedelta(days=(i // 1000) * 37 % 16000)
            # Region 4602xx: the hand-made demo physicians use 460100.
            number = idcard.make(f"{460200 + i // 16_000_000}", birth, i % 1000)
            phys_rows.append(dict(
                id=pid, name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                id_type="resident_id", id_number=number, gender=idcard.gender(number),
                birth_date=birth, institution_id=inst_rows[inst_index]["id"],
                department_id=dept_rows[inst_index * len(dept_names) + i % len(dept_names)]["id"],
                roster_status="active", practice_category=("clinical", "tcm", "dental",
                                                           "public_health")[i % 4],
                level=("physician", "assistant")[i % 5 == 0], is_trainee=False,
                first_registration_date=datetime.date(1990 + i % 30, 1 + i % 12, 1),
                created_at=now,
            ))
            user_rows.append(dict(id=uid, first_name=phys_rows[-1]["name"], last_name="",
                                  username=number, email=f"{number.lower()}@accounts.invalid",
                                  password=password, active=True, physician_id=pid,
                                  must_change_password=True, created_on=now, changed_on=now))
            role_rows.append(dict(user_id=uid, role_id=physician_role_id))
        db.session.execute(insert(Physician), phys_rows)
        # Core inserts bypass the ORM hook: their roster tally deltas, in this transaction.
        for row in phys_rows:
            add_roster(db.session, row["institution_id"], 1)
        db.session.execute(insert(AppUser.__table__), user_rows)
        db.session.execute(insert(assoc_user_role), role_rows)
        db.session.commit()
    _resync_sequences()


def _resync_sequences():
    """Rows were inserted with explicit ids: move PostgreSQL's sequences past them."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("institution", "department", "physician", "ab_user"):
        sequence = "ab_user_id_seq" if table == "ab_user" else None
        if sequence is None:
            sequence = db.session.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}
            ).scalar()
        if sequence:
            db.session.execute(
                text(f"SELECT setval('{sequence}', (SELECT MAX(id) FROM {table}))")
            )
    db.session.commit()


HUMANITIES_QUESTIONS = [
    ("single", "医师在执业活动中应当遵守的首要原则是", ["以患者为中心，维护患者健康权益", "追求经济效益",
                                          "服从科室安排即可", "完成工作量指标"], "A",
     "《医师法》规定医师应当坚持人民至上、生命至上，维护患者健康权益。"),
    ("single", "患者知情同意权的核心是", ["医师替患者作决定", "患者在充分知情的基础上自主决定",
                                  "家属代为决定一切", "由医院伦理委员会决定"], "B", None),
    ("single", "医师定期考核的周期为", ["一年", "两年", "三年", "五年"], "C",
     "医师定期考核每三年为一个周期。"),
    ("single", "下列属于医师执业规则的是", ["出具与执业范围无关的医学证明", "隐匿、伪造病历",
                                   "如实记录病历", "泄露患者隐私"], "C", None),
    ("single", "发生医疗事故争议时，病历资料应当", ["由医师自行保管", "在医患双方在场时封存",
                                         "交给患者带走", "立即销毁"], "B", None),
    ("multiple", "医患沟通的基本要求包括", ["尊重患者", "耐心倾听", "使用患者能理解的语言", "回避患者的问题"],
     "ABC", None),
    ("multiple", "属于患者隐私的信息有", ["病史", "身体缺陷", "家庭住址", "医院名称"], "ABC", None),
    ("judge", "医师可以在紧急情况下先行救治患者，再补办相关手续。", [], "A", None),
    ("judge", "医师可以收受患者的财物。", [], "B", "医师不得利用职务之便索要、非法收受财物。"),
    ("judge", "病历书写应当客观、真实、准确、及时、完整。", [], "A", None),
]
PROFESSIONAL_QUESTIONS = {
    "clinical": [
        ("single", "成人心肺复苏时胸外按压的频率为每分钟", ["60~80次", "80~100次", "100~120次", "120~140次"],
         "C", None),
        ("single", "社区获得性肺炎最常见的病原体是", ["肺炎链球菌", "金黄色葡萄球菌", "铜绿假单胞菌", "真菌"],
         "A", None),
        ("multiple", "急性心肌梗死的典型表现包括", ["持续胸痛", "心电图ST段抬高", "心肌酶升高", "皮疹"],
         "ABC", None),
        ("judge", "高血压患者应长期规律服药，不可自行停药。", [], "A", None),
        ("judge", "抗生素可以用于治疗普通病毒性感冒。", [], "B", None),
    ],
    "dental": [
        ("single", "龋病的主要致病菌是", ["变形链球菌", "大肠杆菌", "幽门螺杆菌", "结核杆菌"], "A", None),
        ("single", "成人恒牙一般共有", ["20颗", "24颗", "28~32颗", "36颗"], "C", None),
        ("multiple", "牙周病的局部促进因素有", ["牙石", "食物嵌塞", "不良修复体", "规律刷牙"], "ABC", None),
        ("judge", "根管治疗后的牙齿通常需要冠修复保护。", [], "A", None),
        ("judge", "刷牙出血应立即停止刷牙。", [], "B", None),
    ],
}


def seed_demo_exams(today=None):
    """A small question bank and the cycle's papers, so the demo physicians can sit the exams,
    study with the mock papers and, once confirmed, the make-up (idempotent)."""
    from models import Cycle, Paper, Question

    if db.session.query(Question.id).first() is not None:
        return
    cycle = db.session.query(Cycle).filter(Cycle.is_current.is_(True)).first()
    if cycle is None:
        return
    today = today or datetime.date.today()

    def questions(kind, rows, category=None):
        made = [Question(kind=kind, type=qtype, stem=stem, options=options, answer=answer,
                         score=10, explanation=explanation, practice_category=category)
                for qtype, stem, options, answer, explanation in rows]
        db.session.add_all(made)
        return made

    humanities = questions("humanities", HUMANITIES_QUESTIONS)
    professional = {category: questions("professional", rows, category)
                    for category, rows in PROFESSIONAL_QUESTIONS.items()}
    exam = cycle.window("exam")
    makeup = cycle.window("makeup_exam")

    def at(day, hour):
        return datetime.datetime.combine(day, datetime.time(hour))

    def paper(name, kind, procedure, chosen, attempts, window=exam, category=None, **flags):
        db.session.add(Paper(
            cycle=cycle, name=name, kind=kind, procedure=procedure, practice_category=category,
            opens_at=at(window.start_date, 8) if window else None,
            closes_at=at(window.end_date, 23) if window else None, duration_minutes=30,
            pass_mark=60, max_attempts=attempts, questions=chosen, **flags))

    paper("公共知识医学人文测评卷", "humanities", "simple", humanities, 20)
    paper("医学人文与业务水平综合试卷（人文部分）", "humanities", "general", humanities, 1)
    paper("专业知识业务水平临床测评试卷", "professional", "general", professional["clinical"], 1,
          category="clinical")
    paper("专业知识业务水平口腔测评试卷", "professional", "general", professional["dental"], 1,
          category="dental")
    paper("医学人文补考试卷", "humanities", "general", humanities, 1, window=makeup,
          is_makeup=True)
    paper("业务水平补考试卷", "professional", "general",
          professional["clinical"] + professional["dental"], 1, window=makeup, is_makeup=True)
    paper("2026医师定期考核人文医学测评（模拟）", "humanities", "simple", humanities, 99,
          window=None, is_mock=True)
    paper("2026医师定期考核业务水平测评（模拟）", "professional", "general",
          professional["clinical"], 99, window=None, is_mock=True, category="clinical")
    db.session.commit()
