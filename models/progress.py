"""报名进度's query: the manual's filters (department, name, ID number, age, level, category,
procedure, result, exemption state, enrollment state) as FAB filters over ``Enrollment``, and
the one function that turns a list's ``_flt_…`` arguments into a filtered, scoped query. The
console list and the Excel export job both use it, so an export means what the list showed."""
import datetime

from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from app.extensions import db
from models import Department, Enrollment, Exemption, Physician
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import idcard, scope


def _physicians(*conditions):
    """Enrollments of physicians matching a selective condition (a name, an ID number): the
    few physicians first, then their enrollments."""
    return Enrollment.physician_id.in_(select(Physician.id).where(*conditions))


def _physician_has(*conditions):
    """Enrollments whose physician matches a broad condition (a category, a level, an age, a
    department name): an EXISTS on the physician's primary key per enrollment row, so a page
    of 20 stops after 20 matches instead of first listing every matching physician of the
    province."""
    return exists().where(Physician.id == Enrollment.physician_id, *conditions)


def _choice(choice_set, value):
    value = (value or "").strip()
    by_label = {choice_set.label(v): v for v in choice_set.values()}
    return by_label.get(value, value)


class _PhysicianFilter(BaseFilter):
    """Filters of 报名进度 on the physician's own fields (hung on the 医师 column)."""

    condition = None  # each filter below: value -> SQL condition on Enrollment

    def apply(self, query, value):
        value = (value or "").strip()
        return query.filter(self.condition(value)) if value else query


class FilterName(_PhysicianFilter):
    name = _l("Name contains")
    arg_name = "pname"

    def condition(self, value):
        return _physicians(Physician.name.contains(value))


class FilterIdNumber(_PhysicianFilter):
    name = _l("ID number is")
    arg_name = "pid"

    def condition(self, value):
        try:
            value = idcard.normalize(value)
        except idcard.InvalidIdNumber:
            value = value.upper()
        return _physicians(Physician.id_number == value)


class FilterDepartment(_PhysicianFilter):
    name = _l("Department is")
    arg_name = "pdept"

    def condition(self, value):
        # The department copied onto the enrollment (kept by the database's triggers), with
        # its (department, state) index: a page or a capped count reads only the matching
        # enrollments (issue 9: at 330,000 physicians, reading each physician's department
        # walked 30,000 of them for a 5,000-row count).
        return Enrollment.department_id.in_(select(Department.id).where(Department.name == value))


class FilterCategory(_PhysicianFilter):
    name = _l("Practice category is")
    arg_name = "pcat"

    def condition(self, value):
        return _physician_has(Physician.practice_category == _choice(PRACTICE_CATEGORY, value))


class FilterLevel(_PhysicianFilter):
    name = _l("Physician level is")
    arg_name = "plevel"

    def condition(self, value):
        return _physician_has(Physician.level == _choice(PHYSICIAN_LEVEL, value))


class FilterAge(_PhysicianFilter):
    """年龄: "40-50" (inclusive) or "45"."""

    name = _l("Age between (e.g. 40-50)")
    arg_name = "page"

    def condition(self, value):
        low, _dash, high = value.replace("～", "-").replace("~", "-").partition("-")
        try:
            low, high = int(low), int(high or low)
        except ValueError:
            return Enrollment.id.is_(None)  # not a number: nothing matches
        today = datetime.date.today()
        born_after = today.replace(year=today.year - high - 1) + datetime.timedelta(days=1)
        born_before = today.replace(year=today.year - low)
        return _physician_has(Physician.birth_date.between(born_after, born_before))


class FilterExemptionState(_PhysicianFilter):
    name = _l("Exemption state is")
    arg_name = "pexm"

    def condition(self, value):
        from models.enrollment import EXEMPTION_STATE

        return exists().where(Exemption.enrollment_id == Enrollment.id,
                              Exemption.state == _choice(EXEMPTION_STATE, value))


PHYSICIAN_FILTERS = [FilterName, FilterIdNumber, FilterDepartment, FilterAge, FilterCategory,
                     FilterLevel, FilterExemptionState]


class FilterChoice(FilterEqual):
    """状态, 考核程序, 考核结果: a drop-down's code; 请选择 (empty) filters nothing."""

    def apply(self, query, value):
        if value is None or not str(value).strip():
            return query
        return super().apply(query, str(value).strip())


SEARCH_COLUMNS = ["id", "state", "procedure", "result", "cycle", "institution"]
SEARCH_FILTERS = {"id": PHYSICIAN_FILTERS, "state": [FilterChoice],
                  "procedure": [FilterChoice], "result": [FilterChoice]}

# The search bar of 报名进度 (manual 000 §19): each field's filter argument. The physician's
# filters hang on the "id" column in PHYSICIAN_FILTERS' order.
BAR_ARGS = {"name": "_flt_0_id", "id_number": "_flt_1_id", "department": "_flt_2_id",
            "age": "_flt_3_id", "category": "_flt_4_id", "level": "_flt_5_id",
            "exemption": "_flt_6_id", "state": "_flt_0_state", "procedure": "_flt_0_procedure",
            "result": "_flt_0_result", "cycle": "_flt_0_cycle",
            "institution": "_flt_0_institution"}
AGE_RANGES = ["20-29", "30-39", "40-49", "50-59", "60-99"]


def install_filters(filters, search_filters, datamodel):
    """FAB's HTML views ignore ``search_filters`` (only its REST API reads it): a column named
    there gets exactly these filters, in this order (URL: _flt_<index>_<column>)."""
    for column, filter_classes in (search_filters or {}).items():
        instances = [filter_class(column, datamodel) for filter_class in filter_classes]
        filters._search_filters[column] = instances
        filters._all_filters[column] = instances
    return filters


def filters_from_args(datamodel, search_columns, search_filters, args):
    """A fresh filter set from ``_flt_<index>_<column>`` arguments, as a list reads them."""
    filters = install_filters(datamodel.get_filters(search_columns), search_filters, datamodel)
    for key, value in args.items():
        index, _sep, column = key.partition("_flt_")[2].partition("_")
        if key.startswith("_flt_") and index.isdigit() and column:
            filters.add_filter_index(column, int(index), value)
    return filters


def enrollment_ids(actor, args):
    """The ids of the enrollments 报名进度 shows ``actor`` with the filter arguments ``args``."""
    datamodel = SQLAInterface(Enrollment, db.session)
    query = scope.restrict(db.session.query(Enrollment.id), Enrollment, actor)
    return filters_from_args(datamodel, SEARCH_COLUMNS, SEARCH_FILTERS, args).apply_all(query)
