"""管辖关系 import from Excel: a province (or the system administrator setting one up) enters its
administrations (province → cities → districts) and its institutions, each with its account,
from one workbook of two sheets. Every row is checked; the rejected rows are listed with their
reasons; the valid rows are added in one transaction, each with its login on the initial
password 666666, changed at the first login (the manuals: 当地管辖行政发放账号, 新机构默认初始密码
为666666).

A row may name as its superior administration one that exists and is the importer's to
change, or one an earlier row of the same file adds; likewise an institution's assessment
institution. A row whose superior was rejected is rejected too, saying so."""
import io
from dataclasses import dataclass, field

import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import spreadsheet
from models.base import Refused, TextList, valid_mobile
from models.institution import INSTITUTION_GRADE, INSTITUTION_LEVEL, INSTITUTION_TYPE, Institution
from models.jurisdiction import ADMIN_LEVEL, Administration, check_new_account
from models.reports import SAFE_WRITING

MAX_ROWS = 2000  # per sheet
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1

ADMIN_COLUMNS = [
    ("name", _l("Administration name*")),
    ("level", _l("Level*")),
    ("parent", _l("Superior administration")),
    ("region_code", _l("Region code")),
    ("account", _l("Account*")),
    ("contact", _l("Contact")),
    ("phone", _l("Phone")),
]
INSTITUTION_COLUMNS = [
    ("name", _l("Institution name*")),
    ("account", _l("Institution account*")),
    ("administration", _l("Competent administration*")),
    ("type", _l("Institution type*")),
    ("level", _l("Institution level")),
    ("grade", _l("Institution grade")),
    ("address_province", _l("Address: province")),
    ("address_city", _l("Address: city")),
    ("address_district", _l("Address: district")),
    ("address_street", _l("Street address")),
    ("beds", _l("Approved beds")),
    ("legal_representative", _l("Legal representative")),
    ("contact", _l("Contact")),
    ("phone", _l("Phone")),
    ("mobile", _l("Mobile number")),
    ("is_assessment", _l("Assessment institution")),
    ("assessment_institution", _l("Assigned assessment institution (account)")),
]
ADMIN_HEADERS = TextList(label for _key, label in ADMIN_COLUMNS)
INSTITUTION_HEADERS = TextList(label for _key, label in INSTITUTION_COLUMNS)
ADMIN_SHEET = _l("Administrations")
INSTITUTION_SHEET = _l("Institutions")
YES, NO = _l("Yes"), _l("No")


@dataclass
class TreeImportResult:
    administrations: list = field(default_factory=list)
    institutions: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (sheet, row number, name, reason)

    @property
    def accounts(self):
        """(account, name) of every login made, to hand out with the initial password."""
        return [(item.account, item.name) for item in self.administrations + self.institutions]


# --- the template ---------------------------------------------------------------------------


def template_bytes():
    """The workbook to fill in: one sheet of administrations, one of institutions, with the
    coded columns as drop-down lists and a sample row's worth of notes."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_WRITING})
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    text = book.add_format({"num_format": "@"})

    def sheet_of(title, headers):
        sheet = book.add_worksheet(str(title))
        for col, header in enumerate(headers):
            sheet.write_string(0, col, header, bold)
            sheet.set_column(col, col, 20, text)
        sheet.freeze_panes(1, 0)
        return sheet

    admins = sheet_of(ADMIN_SHEET, ADMIN_HEADERS)
    institutions = sheet_of(INSTITUTION_SHEET, INSTITUTION_HEADERS)
    keys = [key for key, _label in INSTITUTION_COLUMNS]
    spreadsheet.write_choice_lists(book, admins, {1: _labels(ADMIN_LEVEL)}, MAX_ROWS,
                                   name="lists")
    spreadsheet.write_choice_lists(book, institutions, {
        keys.index("type"): _labels(INSTITUTION_TYPE),
        keys.index("level"): _labels(INSTITUTION_LEVEL),
        keys.index("grade"): _labels(INSTITUTION_GRADE),
        keys.index("is_assessment"): [str(YES), str(NO)],
    }, MAX_ROWS, name="lists2")
    admins.write_comment(0, 2, _("Leave blank for the province; a city's is its province, a "
                                 "district's its city: an existing one or one of the rows "
                                 "above, by name"))
    admins.write_comment(0, 4, _("The login of the administration; the initial password is "
                                 "666666"))
    institutions.write_comment(0, 1, _("The login of the institution, e.g. NX1008611; the "
                                       "initial password is 666666"))
    institutions.write_comment(0, 2, _("The name of an existing administration or of one on "
                                       "the first sheet"))
    institutions.write_comment(0, keys.index("assessment_institution"), _(
        "The account of an assessment institution: an existing one or one of the rows above"))
    book.close()
    return buffer.getvalue()


def _labels(choice_set):
    return [str(choice_set.label(value)) for value in choice_set.values()]


# --- reading --------------------------------------------------------------------------------


def read_sheets(data):
    """(administration rows, institution rows), each [(row number, values)], or
    ImportRefused for the file as a whole."""
    too_many = spreadsheet.ImportRefused(_(
        "At most %(count)s rows per sheet can be imported at a time", count=MAX_ROWS))
    book = spreadsheet.open_workbook(data, 2 * MAX_SHEET_ROWS, too_many)
    if len(book.worksheets) < 2:
        raise spreadsheet.ImportRefused(_("The file must have the two sheets of the template: "
                                          "administrations and institutions"))
    admin_rows = spreadsheet.sheet_rows(book.worksheets[0], ADMIN_HEADERS, MAX_ROWS, too_many)
    institution_rows = spreadsheet.sheet_rows(book.worksheets[1], INSTITUTION_HEADERS,
                                              MAX_ROWS, too_many)
    if not admin_rows and not institution_rows:
        raise spreadsheet.ImportRefused(_("The file holds no administrations and no "
                                          "institutions"))
    return admin_rows, institution_rows


def _values(columns, row):
    return {key: row[index] for index, (key, _label) in enumerate(columns)}


# --- importing ------------------------------------------------------------------------------


class _Tree:
    """What rows may hang under: the administrations and assessment institutions the importer
    may change, and those the file has added so far."""

    def __init__(self, actor):
        from security import scope

        self.actor = actor
        self.administrations = {}  # name -> [Administration]
        for node in scope.restrict(db.session.query(Administration), Administration, actor,
                                   scope.CHANGE):
            self.administrations.setdefault(node.name, []).append(node)
        self.assessors = {item.account: item for item in scope.restrict(
            db.session.query(Institution), Institution, actor, scope.CHANGE).filter(
            Institution.is_assessment.is_(True))}
        self.rejected_names = set()  # administrations whose row was rejected
        self.rejected_accounts = set()
        self.accounts = set()  # accounts taken by earlier rows of the file

    def administration(self, name):
        if not name:
            return None
        found = self.administrations.get(name, [])
        if len(found) > 1:
            raise Refused(_('More than one administration is named "%(name)s"', name=name))
        if found:
            return found[0]
        if name in self.rejected_names:
            raise Refused(_('Administration "%(name)s" was rejected in this file', name=name))
        raise Refused(_('Administration "%(name)s" does not exist or is not yours to manage: '
                        "add it first (on the first sheet, above this row)", name=name))

    def assessor(self, account):
        if account in self.assessors:
            return self.assessors[account]
        exists = db.session.query(Institution.id).filter_by(account=account).first()
        if account in self.rejected_accounts and exists is None:
            raise Refused(_('Institution "%(account)s" was rejected in this file',
                            account=account))
        raise Refused(_('"%(account)s" is not an assessment institution you manage',
                        account=account))


def import_tree(data, actor, user=None):
    """Check every row of both sheets; add the valid ones with their accounts (flush, not
    commit: the command commits them together) and list the rejected."""
    admin_rows, institution_rows = read_sheets(data)
    tree = _Tree(actor)
    result = TreeImportResult()
    sheet = str(ADMIN_SHEET)
    for number, row in admin_rows:
        values = _values(ADMIN_COLUMNS, row)
        name = spreadsheet.text(values["name"])
        try:
            node = _administration(values, name, tree)
        except (Refused, ValueError) as problem:
            tree.rejected_names.add(name)
            result.rejected.append((sheet, number, name, str(problem)))
            continue
        db.session.add(node)
        db.session.flush()
        node.assign_path()
        node.open_account(user=user)
        tree.administrations.setdefault(node.name, []).append(node)
        tree.accounts.add(node.account)
        result.administrations.append(node)
    sheet = str(INSTITUTION_SHEET)
    for number, row in institution_rows:
        values = _values(INSTITUTION_COLUMNS, row)
        name = spreadsheet.text(values["name"])
        try:
            institution = _institution(values, name, tree)
        except (Refused, ValueError) as problem:
            tree.rejected_accounts.add(spreadsheet.text(values["account"]))
            result.rejected.append((sheet, number, name, str(problem)))
            continue
        db.session.add(institution)
        db.session.flush()
        institution.open_account(user=user)
        tree.accounts.add(institution.account)
        if institution.is_assessment:
            tree.assessors[institution.account] = institution
        result.institutions.append(institution)
    return result


def _administration(values, name, tree):
    from security import scope

    level = spreadsheet.choice(ADMIN_LEVEL, values["level"])
    if level is None:
        raise Refused(_("The level must be Province, City or District"))
    parent = tree.administration(spreadsheet.text(values["parent"]))
    if parent is None and tree.actor.kind != scope.ALL:
        raise Refused(_("Please fill in the superior administration"))
    node = Administration(name=name[:128], level=level, parent=parent,
                          region_code=spreadsheet.text(values["region_code"])[:12] or None,
                          contact=spreadsheet.text(values["contact"])[:64] or None,
                          phone=spreadsheet.text(values["phone"])[:32] or None)
    with db.session.no_autoflush:  # the node is not in the session until it passes
        try:
            node.account = check_new_account(spreadsheet.text(values["account"]),
                                             tree.accounts)
            node.check()
        except Refused:
            if parent is not None:  # the backref put it among the parent's children
                parent.children.remove(node)
            raise
    return node


def _institution(values, name, tree):
    if not name:
        raise Refused(_("The name is empty"))
    account = check_new_account(spreadsheet.text(values["account"]), tree.accounts)
    administration = tree.administration(spreadsheet.text(values["administration"]))
    if administration is None:
        raise Refused(_("Please choose the competent administration"))
    kind = spreadsheet.choice(INSTITUTION_TYPE, values["type"])
    if kind is None:
        raise Refused(_("Please choose the institution type from the list"))
    fields = {}
    for key, choice_set in (("level", INSTITUTION_LEVEL), ("grade", INSTITUTION_GRADE)):
        raw = spreadsheet.text(values[key])
        fields[key] = spreadsheet.choice(choice_set, raw) if raw else None
        if raw and fields[key] is None:
            raise Refused(_('"%(value)s" is not one of the choices of the list', value=raw))
    beds = spreadsheet.text(values["beds"]) or "0"
    if not beds.isdigit() or int(beds) > 100000:
        raise Refused(_("The number of beds must be a whole number"))
    mobile = spreadsheet.text(values["mobile"])
    if mobile and not valid_mobile(mobile):
        raise Refused(_("Wrong mobile number format"))
    flag = spreadsheet.text(values["is_assessment"])
    if flag not in ("", str(YES), str(NO)):
        raise Refused(_('"%(value)s" is not one of the choices of the list', value=flag))
    assessor_account = spreadsheet.text(values["assessment_institution"])
    assessor = tree.assessor(assessor_account) if assessor_account else None
    institution = Institution(
        name=name[:128], account=account, type=kind, beds=int(beds), mobile=mobile or None,
        is_assessment=flag == str(YES), assessment_institution=assessor,
        **fields,
        **{key: spreadsheet.text(values[key])[:size] or None for key, size in (
            ("address_province", 32), ("address_city", 32), ("address_district", 32),
            ("address_street", 255), ("legal_representative", 64), ("contact", 64),
            ("phone", 32))})
    institution.place_under(administration)
    institution.check()
    return institution
