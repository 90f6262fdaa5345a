"""Two per-request costs every console page paid, cut without changing a byte of its HTML.

Profiled under gunicorn (bench/load.py, the institution's roster and home page), a page spent
a third of its CPU here:

- **Translations.** Every ``_()`` in a template and every lazy label asks Flask-Babel for the
  request's translations, which walks ``g`` and the locale each time (a list page makes
  ~450 such calls). The translations object is kept on the request's Babel context, beside the
  locale it belongs to: when ``force_locale`` or ``refresh`` changes the locale object, the
  next call looks them up again, so switching languages works as before.
- **The menu.** FAB renders the navigation bar for every page, asking the security manager
  about every item (``menu_access``). Its HTML depends only on the account's roles and the
  locale, so it is rendered once per (roles, locale) and kept for ``MENU_CACHE_SECONDS``
  (config.py, 60). A role whose menu permissions an administrator edits sees the change within that
  time; what a role may open is still checked on every request by the views themselves —
  the menu only shows the links.
"""
import time

from flask import current_app, g, has_request_context, render_template, request, url_for
from flask.globals import _cv_app
from markupsafe import Markup

_MENU_CACHE_SIZE = 512


def _fast_translations(original):
    def get_translations():
        app_ctx = _cv_app.get(None)
        space = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
        if space is not None:
            locale = getattr(space, "babel_locale", None)
            kept = space.__dict__.get("dk_translations")
            if locale is not None and kept is not None and kept[0] is locale:
                return kept[1]
        translations = original()
        space = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
        locale = getattr(space, "babel_locale", None) if space is not None else None
        if locale is not None:
            space.dk_translations = (locale, translations)
        return translations

    return get_translations


def _menu_key():
    user = getattr(g, "user", None)
    roles = ()
    if user is not None and getattr(user, "is_authenticated", False):
        roles = tuple(sorted(role.id for role in user.roles))
    from flask_babel import get_locale

    return roles, str(get_locale())


def navbar_menu():
    """The ``<li>`` items of the navigation bar (``appbuilder/navbar_menu.html``), rendered
    once per roles and locale."""
    cache = current_app.extensions.setdefault("dk_menu_cache", {})
    key = _menu_key()
    ttl = current_app.config.get("MENU_CACHE_SECONDS", 60)
    kept = cache.get(key)
    now = time.monotonic()
    if kept is not None and kept[0] > now:
        return kept[1]
    html = Markup(render_template("appbuilder/navbar_menu.html",
                                  menu=current_app.appbuilder.menu))
    if ttl > 0:
        if len(cache) >= _MENU_CACHE_SIZE:
            cache.clear()
        cache[key] = (now + ttl, html)
    return html


def static_url(endpoint, filename):
    """``url_for(endpoint, filename=filename)`` of a static file (the layout links twenty on
    every page), built once per mount point of the app."""
    if not has_request_context():
        return url_for(endpoint, filename=filename)
    cache = current_app.extensions.setdefault("dk_static_urls", {})
    key = (request.script_root, endpoint, filename)
    url = cache.get(key)
    if url is None:
        if len(cache) >= _MENU_CACHE_SIZE:
            cache.clear()
        url = cache[key] = url_for(endpoint, filename=filename)
    return url


def register(app):
    """After AppBuilder (and so Flask-Babel) is set up."""
    domain = app.extensions["babel"].instance.domain_instance
    if not getattr(domain.get_translations, "dk_fast", False):  # one Babel may serve many apps
        domain.get_translations = _fast_translations(domain.get_translations)
        domain.get_translations.dk_fast = True
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: domain.get_translations().ugettext(s),
        ngettext=lambda s, p, n: domain.get_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: domain.get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: domain.get_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals["dk_navbar_menu"] = navbar_menu
    app.jinja_env.globals["dk_static"] = static_url
    from views import list_render

    list_render.register(app)
