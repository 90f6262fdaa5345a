"""导出: an export is recorded for the user who asked, then queued for a worker (the record is
committed first, so the worker finds it, and the page shows it at once as 排队中)."""
from flask_babel import gettext as _

from app.extensions import db
from commands import command
from models.base import Refused, now
from models.reports import EXPORT_STATUS, EXPORTS, ExportJob


@command
def request_export(actor, kind_name, args, filters_text, locale):
    """Record an export of the list ``kind_name`` with the list's ``_flt_…`` ``args``."""
    kind = EXPORTS.get(kind_name)
    if kind is None or actor.user_id is None:
        raise Refused(_("This list cannot be exported"))
    export = ExportJob(kind=kind.name, title=str(kind.title)[:64], filters=dict(args),
                       filters_text=filters_text, locale=locale,
                       requested_by_id=actor.user_id, status=EXPORT_STATUS.QUEUED)
    db.session.add(export)
    db.session.flush()
    return export.id


@command
def queued(export_id, rq_job_id):
    """Remember the RQ job of an export (for the operator's retry)."""
    db.session.get(ExportJob, export_id).rq_job_id = rq_job_id


@command
def could_not_queue(export_id):
    export = db.session.get(ExportJob, export_id)
    export.status, export.finished_at = EXPORT_STATUS.FAILED, now()
    export.reason = _("The export could not be queued (the job service is unavailable); "
                      "please try again later")


def start(actor, kind_name, args, filters_text, locale):
    """Record and queue an export; returns its id. Redis away: the record says 失败 and why."""
    import logging

    from app import jobs

    export_id = request_export(actor, kind_name, args, filters_text, locale)
    try:
        job = jobs.enqueue(jobs.run_export, export_id)
    except Exception:
        logging.getLogger(__name__).warning("could not queue export %s", export_id,
                                            exc_info=True)
        could_not_queue(export_id)
        return export_id
    queued(export_id, job.id)
    return export_id


@command
def requeued(export_id):
    """An operator retried the export's failed job: it is 排队中 again."""
    export = db.session.get(ExportJob, export_id)
    if export is not None:
        export.status, export.reason, export.finished_at = EXPORT_STATUS.QUEUED, None, None
        export.rows_done = 0


@command
def failed_in_worker(export_id, reason):
    """Its job failed for good where the export could not say so itself (a work-horse killed
    on each try): the record says 失败 and why."""
    export = db.session.get(ExportJob, export_id)
    if export is not None and export.status not in (EXPORT_STATUS.DONE, EXPORT_STATUS.FAILED):
        export.status, export.reason, export.finished_at = EXPORT_STATUS.FAILED, reason, now()
