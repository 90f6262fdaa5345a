"""The domain's records, one module per aggregate.

Importing this package registers every table on FAB's declarative ``Model`` metadata, which
is what migrations compare against.
"""
from models.base import ChoiceSet  # noqa: F401
from models.jurisdiction import Administration  # noqa: F401
from models.institution import (  # noqa: F401
    AssessmentApplication,
    ApplicationAttachment,
    Department,
    Institution,
    Subject,
)
from models.files import StoredFile  # noqa: F401
from models.physician import Experience, Physician  # noqa: F401
from models.account import AppUser, SmsMessage  # noqa: F401
from models.cycle import Cycle, CycleConfirmation, ScheduleWindow  # noqa: F401
from models.enrollment import (  # noqa: F401
    Enrollment,
    EnrollmentTally,
    Exemption,
    OtherOpinion,
    ReviewRecord,
    Submission,
)
from models.exam import (  # noqa: F401
    Answer,
    ExamAttempt,
    Paper,
    PaperResult,
    PracticeMistake,
    Question,
)
from models.proctoring import FaceConsent, FaceVerification, ProctorCase, Snapshot  # noqa: F401,E501
from models.audit import AuditLog  # noqa: F401
from models.certificate import Certificate  # noqa: F401
from models.reports import ExportJob  # noqa: F401
from models import workflow  # noqa: F401,E402  (registers the state machine guard)
# After the workflow: its tally rows are written first at a commit, then these (lock order).
# The roll-up per region (RegionTally) is written before all of them (its hook is inserted first).
from models.tally import ExemptionTally, RegionTally, RosterTally  # noqa: F401,E402
