"""Institutions, their departments, the 诊疗科目 catalogue and assessment-institution applications."""
from flask_appbuilder import Model
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import mapped_column, relationship

from models.base import ChoiceSet, Refused, now

INSTITUTION_TYPE = ChoiceSet(
    ("medical", _l("Medical institution")),
    ("disease_control", _l("Disease control institution")),
    ("maternal_child", _l("Maternal and child health institution")),
    ("clinic", _l("Clinic")),
    ("village_clinic", _l("Village clinic")),
    ("association", _l("Industry or academic organisation")),
)
INSTITUTION_LEVEL = ChoiceSet(
    ("level1", _l("Level 1")),
    ("level2", _l("Level 2")),
    ("level3", _l("Level 3")),
    ("unrated", _l("Unrated")),
)
INSTITUTION_GRADE = ChoiceSet(
    ("grade_a", _l("Grade A")),
    ("grade_b", _l("Grade B")),
    ("grade_c", _l("Grade C")),
    ("ungraded", _l("Ungraded")),
)
APPLICATION_STATE = ChoiceSet(
    ("draft", _l("Not submitted")),
    ("submitted", _l("Awaiting approval")),
    ("approved", _l("Approved")),
    ("rejected", _l("Rejected")),
)


class Subject(Model):
    """One node of the national catalogue of diagnosis and treatment subjects (诊疗科目)."""

    __tablename__ = "subject"
    id = Column(Integer, primary_key=True)
    code = Column(String(16), nullable=False, unique=True)
    name = Column(String(64), nullable=False)
    parent_id = Column(Integer, ForeignKey("subject.id"), index=True)
    parent = relationship("Subject", remote_side=[id], backref="children", lazy="joined")

    def __str__(self):
        # "内科 - 呼吸内科专业": the catalogue is a tree, and 专业 names repeat across it.
        return f"{self.parent.name} - {self.name}" if self.parent is not None else self.name

    __repr__ = __str__  # FAB prints lists of related rows with repr()


department_subject = Table(
    "department_subject",
    Model.metadata,
    Column("department_id", Integer, ForeignKey("department.id"), primary_key=True),
    Column("subject_id", Integer, ForeignKey("subject.id"), primary_key=True),
)


class Institution(Model):
    __tablename__ = "institution"
    id = Column(Integer, primary_key=True)
    name = Column(String(128), nullable=False)
    account = Column(String(32), nullable=False, unique=True)
    administration_id = Column(Integer, ForeignKey("administration.id"), nullable=False)
    administration = relationship("Administration")
    # Copy of administration.path: scoping filters 330,000 physicians by it without a join.
    admin_path = mapped_column(String(255), nullable=False,
                               active_history=True)  # the roll-up moves from the old path
    address_province = Column(String(32))
    address_city = Column(String(32))
    address_district = Column(String(32))
    address_street = Column(String(255))
    type = Column(String(32), nullable=False, default=INSTITUTION_TYPE.MEDICAL)
    level = Column(String(16))
    grade = Column(String(16))
    beds = Column(Integer, default=0)
    legal_representative = Column(String(64))
    contact = Column(String(64))
    phone = Column(String(32))
    mobile = Column(String(16))
    is_assessment = Column(Boolean, nullable=False, default=False)
    assessment_institution_id = Column(Integer, ForeignKey("institution.id"), index=True)
    assessment_institution = relationship("Institution", remote_side=[id])
    application_open = Column(Boolean, nullable=False, default=False)

    __table_args__ = (Index("ix_institution_admin_path", "admin_path"),)

    def place_under(self, administration):
        self.administration = administration
        self.administration_id = administration.id
        self.admin_path = administration.path

    def check(self):
        """Before an institution is saved: its administration (and so its place in the tree),
        an assessment institution that is one, and, when new, an account nobody has."""
        if self.administration is None:
            raise Refused(_("Please choose the competent administration"))
        self.admin_path = self.administration.path
        self.account = (self.account or "").strip()
        chosen = self.assessment_institution
        if chosen is not None and (not chosen.is_assessment or chosen is self):
            raise Refused(_("The assigned assessment institution must be another institution "
                            "that is already an assessment institution"))
        if self.id is None:
            from models.jurisdiction import check_new_account

            check_new_account(self.account)

    def open_account(self, user=None):
        """A new institution's login: its account, the initial password, forced change."""
        from models.audit import record as audit
        from security import accounts, roles

        # An assessment institution is also a medical institution: its account holds both.
        names = [roles.INSTITUTION] + ([roles.ASSESSMENT] if self.is_assessment else [])
        accounts.create_account(self.account, names, name=self.name, institution=self)
        audit("institution", self.id, "create", institution=self, user=user)

    @property
    def type_label(self):
        return INSTITUTION_TYPE.label(self.type)

    @property
    def level_label(self):
        return INSTITUTION_LEVEL.label(self.level)

    @property
    def grade_label(self):
        return INSTITUTION_GRADE.label(self.grade)

    def __str__(self):
        return self.name


class Department(Model):
    __tablename__ = "department"
    id = Column(Integer, primary_key=True)
    institution_id = Column(Integer, ForeignKey("institution.id"), nullable=False)
    institution = relationship("Institution", backref="departments")
    name = Column(String(64), nullable=False)
    enabled = Column(Boolean, nullable=False, default=True)
    subjects = relationship("Subject", secondary=department_subject)

    __table_args__ = (
        UniqueConstraint("institution_id", "name", name="uq_department_institution_name"),
        Index("ix_department_name", "name"),
    )

    @property
    def status_label(self):
        return str(_l("Enabled")) if self.enabled else str(_l("Disabled"))

    def check(self):
        """Before a department is saved: a name, unique within its institution."""
        from app.extensions import db

        if self.institution_id is None:
            raise Refused(_("Please choose the institution"))
        self.name = (self.name or "").strip()
        clash = db.session.query(Department.id).filter(
            Department.institution_id == self.institution_id, Department.name == self.name,
            Department.id != (self.id or -1)).first()
        if clash:
            raise Refused(_('Department "%(name)s" already exists', name=self.name))

    def check_unused(self):
        """A department with physicians is disabled, not deleted."""
        from app.extensions import db
        from models.physician import Physician

        used = db.session.query(Physician.id).filter(Physician.department_id == self.id).count()
        if used:
            raise Refused(_("%(count)s physicians belong to this department, so it cannot be "
                            "deleted; disable it if it is no longer used", count=used))

    @staticmethod
    def require_enabled_of(department, institution_id):
        """A physician's department must be an enabled one of their own institution: the one
        rule for 新增医师, 编辑, 调入, the import and the physician's own 执业信息."""
        if department is None or department.institution_id != institution_id:
            raise Refused(_("Please choose an enabled department of this institution"))
        if not department.enabled:
            raise Refused(_('Department "%(name)s" is disabled, please choose an enabled '
                            "department", name=department.name))
        return department

    def __str__(self):
        return self.name


class AssessmentApplication(Model):
    """An institution's application to become an assessment institution (申请考核机构)."""

    __tablename__ = "assessment_application"
    id = Column(Integer, primary_key=True)
    institution_id = Column(Integer, ForeignKey("institution.id"), nullable=False, index=True)
    institution = relationship("Institution")
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False)
    cycle = relationship("Cycle")
    state = Column(String(16), nullable=False, default=APPLICATION_STATE.DRAFT)
    reason = Column(Text)
    submitted_at = Column(DateTime)
    decided_at = Column(DateTime)
    decided_by_id = Column(Integer, ForeignKey("ab_user.id"))
    created_at = Column(DateTime, default=now, nullable=False)

    @property
    def state_label(self):
        return APPLICATION_STATE.label(self.state)


class ApplicationAttachment(Model):
    """One of the 4 required + 1 optional attachment slots of an application."""

    __tablename__ = "application_attachment"
    id = Column(Integer, primary_key=True)
    application_id = Column(
        Integer, ForeignKey("assessment_application.id"), nullable=False, index=True
    )
    application = relationship("AssessmentApplication", backref="attachments")
    slot = Column(Integer, nullable=False)
    file_id = Column(Integer, ForeignKey("stored_file.id"), nullable=False)
    file = relationship("StoredFile")

    __table_args__ = (UniqueConstraint("application_id", "slot", name="uq_attachment_slot"),)
