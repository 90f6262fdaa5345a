"""Views, grouped by who uses them: the staff console, the physicians' self-service pages."""


def register_views(appbuilder):
    from views import api, console, selfservice

    console.register(appbuilder)
    selfservice.register(appbuilder)
    api.register(appbuilder)
