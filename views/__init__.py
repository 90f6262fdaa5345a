"""Views, grouped by who uses them: the staff console, the physicians' self-service pages."""


def register_views(appbuilder):
    from views import (api, certificate, console, exam, institution, proctoring,
                       question_bank, review, selfservice, study)

    from flask_babel import lazy_gettext as _l

    appbuilder.add_link("Home", href="/", label=_l("Home"), icon="fa-home")
    institution.register(appbuilder)  # 本机构信息 first under 机构信息
    console.register(appbuilder)
    question_bank.register(appbuilder)  # 题库导入 after 题库 under 测评管理
    proctoring.register(appbuilder)  # 监考管理 under 测评管理
    review.register(appbuilder)
    selfservice.register(appbuilder)
    exam.register(appbuilder)
    appbuilder.add_view_no_menu(study.StudyView)
    api.register(appbuilder)
    certificate.register(appbuilder)
    from views import exports, ops, overview

    overview.register(appbuilder)  # 周期总进度 first under 统计报表
    exports.register(appbuilder)
    ops.register(appbuilder)
