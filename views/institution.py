"""本机构信息: an institution keeps its own record right; physician counts come from the roster."""
from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from app.extensions import db
from models import Physician
from models.institution import INSTITUTION_GRADE, INSTITUTION_LEVEL, INSTITUTION_TYPE
from models.physician import PHYSICIAN_LEVEL, ROSTER_STATUS
from security import scope

_REQUIRED = "此项为必填项"


class InstitutionInfoForm(FlaskForm):
    name = StringField(_l("Institution name"), [DataRequired(_REQUIRED), Length(max=128)])
    address_province = StringField(_l("Province"), [DataRequired(_REQUIRED), Length(max=32)])
    address_city = StringField(_l("City"), [DataRequired(_REQUIRED), Length(max=32)])
    address_district = StringField(_l("District"), [Optional(), Length(max=32)])
    address_street = StringField(_l("Street address"), [DataRequired(_REQUIRED), Length(max=255)])
    type = SelectField(_l("Institution type"), choices=INSTITUTION_TYPE.options(),
                       validators=[DataRequired(_REQUIRED)])
    level = SelectField(_l("Level"), choices=INSTITUTION_LEVEL.options(),
                        validators=[DataRequired(_REQUIRED)])
    grade = SelectField(_l("Institution grade"), choices=INSTITUTION_GRADE.options(),
                        validators=[DataRequired(_REQUIRED)])
    beds = IntegerField(_l("Approved beds"), [Optional(), NumberRange(min=0, message="床位数不能为负数")])
    legal_representative = StringField(_l("Legal representative"),
                                       [DataRequired(_REQUIRED), Length(max=64)])
    contact = StringField(_l("Contact"), [DataRequired(_REQUIRED), Length(max=64)])
    phone = StringField(_l("Phone"), [Optional(), Regexp(r"^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$",
                                                          message="请输入正确的联系电话，如010-12345678")])
    mobile = StringField(_l("Mobile"), [DataRequired(_REQUIRED), Regexp(
        r"^1[3-9]\d{9}$", message="请输入正确的11位手机号码")])


class MyInstitutionView(BaseView):
    route_base = "/institution/mine"
    default_view = "edit"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def edit(self):
        actor = scope.current_actor()
        if actor.kind != scope.INSTITUTION:
            abort(403)
        institution = g.user.institution
        form = InstitutionInfoForm(obj=institution)
        status = 200
        if request.method == "POST":
            if form.validate():
                form.populate_obj(institution)
                db.session.commit()
                flash(str(_l("Saved")), "success")
                return redirect(url_for(".edit"))
            status = 400
        return self.render_template("institution/mine.html", form=form,
                                    institution=institution,
                                    counts=roster_counts(institution.id)), status


def roster_counts(institution_id):
    """医师总数 / 执业医师人数 / 执业助理医师人数, from the roster, never typed in."""
    rows = (
        db.session.query(Physician.level, db.func.count(Physician.id))
        .filter(Physician.institution_id == institution_id,
                Physician.roster_status == ROSTER_STATUS.ACTIVE)
        .group_by(Physician.level)
        .all()
    )
    by_level = dict(rows)
    return {
        "total": sum(by_level.values()),
        "physician": by_level.get(PHYSICIAN_LEVEL.PHYSICIAN, 0),
        "assistant": by_level.get(PHYSICIAN_LEVEL.ASSISTANT, 0),
    }


def register(appbuilder):
    appbuilder.add_view(MyInstitutionView, "MyInstitutionView", label=_l("Institution information"),
                        icon="fa-building", category="Institutions",
                        category_label=_l("Institution info"))
