"""JSON endpoints (read-only) for the roster, institutions and enrollments.

They read through the same scoped data interface as the console, so another tenant's record is
a 404 here too. They are read with the browser's session (and end with it): there is no token
login (FAB's /api/v1/security/login is not mounted, see security.manager.NoTokenLogin).
"""
from flask_appbuilder.api import ModelRestApi

from models import Enrollment, Institution, Physician
from views.base import scoped


class _ReadOnlyApi(ModelRestApi):
    allow_browser_login = True
    base_permissions = ["can_get", "can_info"]
    page_size = 20
    max_page_size = 100

    def add_api_spec(self, api_spec):
        """The OpenAPI description (Swagger UI, /swagger/v1) lists what may be read: the write
        routes FAB mounts answer 403 to everyone and are left out."""
        self.include_route_methods = {"get", "get_list", "info"}
        try:
            super().add_api_spec(api_spec)
        finally:
            self.include_route_methods = None


class PhysicianApi(_ReadOnlyApi):
    resource_name = "physician"
    datamodel = scoped(Physician)
    # The whole ID number is for the show page of those allowed; lists carry it masked.
    list_columns = ["id", "name", "masked_id_number", "institution.name", "department.name",
                    "practice_category", "level", "roster_status"]
    show_columns = list_columns + ["id_number", "first_registration_date", "certificate_date"]
    search_columns = ["name", "department", "practice_category", "level", "roster_status"]


class InstitutionApi(_ReadOnlyApi):
    resource_name = "institution"
    datamodel = scoped(Institution)
    list_columns = show_columns = ["id", "name", "account", "administration.name", "type",
                                   "level", "grade", "is_assessment",
                                   "assessment_institution.name"]
    search_columns = ["name", "account", "type", "is_assessment"]


class EnrollmentApi(_ReadOnlyApi):
    resource_name = "enrollment"
    datamodel = scoped(Enrollment)
    list_columns = show_columns = ["id", "cycle.name", "physician.name", "institution.name",
                                   "state", "procedure", "submitted_at"]
    search_columns = ["state", "procedure", "cycle", "institution"]


def register(appbuilder):
    for api in (PhysicianApi, InstitutionApi, EnrollmentApi):
        appbuilder.add_api(api)
