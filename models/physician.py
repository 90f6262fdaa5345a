"""Physicians: identity, practice and certificate fields, and their experience rows."""
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import mapped_column, relationship

from models.base import ChoiceSet, now

GENDER = ChoiceSet(("male", _l("Male")), ("female", _l("Female")))
ID_TYPE = ChoiceSet(
    ("resident_id", _l("Resident identity card")),
    ("passport", _l("Passport")),
    ("hk_macao_taiwan", _l("Hong Kong, Macao or Taiwan permit")),
)
PRACTICE_CATEGORY = ChoiceSet(
    ("clinical", _l("Clinical")),
    ("tcm", _l("Traditional Chinese medicine")),
    ("dental", _l("Dental")),
    ("public_health", _l("Public health")),
)
PHYSICIAN_LEVEL = ChoiceSet(
    ("physician", _l("Licensed physician")),
    ("assistant", _l("Licensed assistant physician")),
)
TITLE = ChoiceSet(
    ("none", _l("Unrated")),
    ("junior", _l("Junior")),
    ("intermediate", _l("Intermediate")),
    ("associate_senior", _l("Associate senior")),
    ("senior", _l("Senior")),
)
EMPLOYMENT = ChoiceSet(("employed", _l("Employed")), ("rehired", _l("Rehired")))
ROSTER_STATUS = ChoiceSet(
    ("active", _l("At institution")),
    ("transferred_out", _l("Transferred out")),
)
TRANSFER_REASON = ChoiceSet(
    ("resigned", _l("Resigned")),
    ("retired", _l("Retired")),
    ("other_province", _l("Moved to another province")),
    ("other", _l("Other")),
)
LICENCE_KIND = ChoiceSet(
    ("paper", _l("Paper licence (2 pages)")),
    ("electronic", _l("Electronic licence (1 page)")),
)
EXPERIENCE_KIND = ChoiceSet(
    ("filing", _l("Multi-institution practice filing")),
    ("education", _l("Education")),
    ("practice", _l("Practice history")),
    ("research", _l("Research results")),
    ("change", _l("Practice change history")),
)

physician_specialty = Table(
    "physician_specialty",
    Model.metadata,
    Column("physician_id", Integer, ForeignKey("physician.id"), primary_key=True),
    Column("subject_id", Integer, ForeignKey("subject.id"), primary_key=True),
)


class Physician(Model):
    __tablename__ = "physician"
    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    id_type = Column(String(16), nullable=False, default=ID_TYPE.RESIDENT_ID)
    # Resident IDs are stored in their 18-character form with an upper-case X; 15-digit input is
    # converted before it is stored or looked up (security.idcard.normalize).
    id_number = Column(String(32), nullable=False, unique=True)
    gender = Column(String(8))
    ethnicity = Column(String(16))
    birth_date = Column(Date)
    education = Column(String(32))
    email = Column(String(128))
    mobile = Column(String(16))
    # active_history: a change made without reading the row first still knows the institution
    # it leaves, which the roster tally subtracts from (models/tally.py).
    institution_id = mapped_column(Integer, ForeignKey("institution.id"), active_history=True)
    institution = relationship("Institution", foreign_keys=[institution_id])
    # Where a transferred-out physician last worked, so that 调入 and audits can name it.
    previous_institution_id = Column(Integer, ForeignKey("institution.id"))
    previous_institution = relationship("Institution", foreign_keys=[previous_institution_id])
    department_id = Column(Integer, ForeignKey("department.id"))
    department = relationship("Department")
    specialties = relationship("Subject", secondary=physician_specialty)
    roster_status = Column(String(16), nullable=False, default=ROSTER_STATUS.ACTIVE)
    transfer_reason = Column(String(16))
    transfer_detail = Column(Text)
    practice_category = Column(String(16))
    level = Column(String(16))
    title = Column(String(16))
    title_date = Column(Date)
    position = Column(String(64))
    position_date = Column(Date)
    is_trainee = Column(Boolean, nullable=False, default=False)
    practice_scope = Column(String(128))
    employment = Column(String(16))
    qualification_no = Column(String(32))
    qualification_date = Column(Date)
    certificate_no = Column(String(32))
    certificate_date = Column(Date)
    first_registration_date = Column(Date)
    # use_alter: physician and stored_file refer to each other.
    photo_id = Column(Integer, ForeignKey("stored_file.id", use_alter=True,
                                          name="fk_physician_photo_id"))
    photo = relationship("StoredFile", foreign_keys=[photo_id])
    # The face-sized copy kept for proctoring comparisons and the certificate.
    photo_thumb_id = Column(Integer, ForeignKey("stored_file.id", use_alter=True,
                                                name="fk_physician_photo_thumb_id"))
    photo_thumb = relationship("StoredFile", foreign_keys=[photo_thumb_id])
    licence_kind = Column(String(16))
    created_at = Column(DateTime, default=now, nullable=False)

    __table_args__ = (
        Index("ix_physician_institution_department", "institution_id", "department_id"),
        Index("ix_physician_institution_category", "institution_id", "practice_category"),
        Index("ix_physician_name", "name"),
        Index("ix_physician_previous_institution", "previous_institution_id"),
        Index("ix_physician_department", "department_id"),
    )

    @property
    def masked_id_number(self):
        from security.idcard import mask

        return mask(self.id_number)

    @property
    def practice_category_label(self):
        return PRACTICE_CATEGORY.label(self.practice_category)

    @property
    def level_label(self):
        return PHYSICIAN_LEVEL.label(self.level)

    @property
    def gender_label(self):
        return GENDER.label(self.gender)

    @property
    def roster_status_label(self):
        return ROSTER_STATUS.label(self.roster_status)

    def __str__(self):
        return self.name


class Experience(Model):
    """A row of 相关经历: a filing, an education, a practice period or a research result."""

    __tablename__ = "experience"
    id = Column(Integer, primary_key=True)
    physician_id = Column(Integer, ForeignKey("physician.id"), nullable=False, index=True)
    physician = relationship("Physician", backref="experiences")
    kind = Column(String(16), nullable=False)
    start_date = Column(Date)
    end_date = Column(Date)
    organisation = Column(String(128))
    description = Column(Text)

    @property
    def kind_label(self):
        return EXPERIENCE_KIND.label(self.kind)
