"""周期总进度 (DOMAIN §11): the cycle's progress per region below the user's, drilling down
province → cities → districts → institutions, sortable, for the cycle chosen (the current one
by default), with two charts drawn on the server as SVG (no script, no external library): the
completion rate per region, and where the included physicians are as a stacked bar per
region."""
from urllib.parse import urlencode

from flask import g, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l

from models import overview as model
from security import scope

BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, CHART_WIDTH = 22, 8, 180, 420
# A district may hold a thousand institutions: the table and the charts show a page of them
# (in the order chosen, 20 a page like every list of the console), the total row all of them.
PAGE_SIZE = 20
# Page links around the current page; the first and the last are always shown.
PAGE_WINDOW = 3


def percent(rate):
    return "—" if rate is None else f"{rate:.1%}"


def page_numbers(page, pages):
    """The page numbers to link (0-based): the first, the last and PAGE_WINDOW each side of
    ``page``; None where numbers are left out."""
    shown = sorted({0, pages - 1, *range(max(0, page - PAGE_WINDOW),
                                         min(pages, page + PAGE_WINDOW + 1))})
    numbers = []
    for number in shown:
        if numbers and number > numbers[-1] + 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def completion_chart(rows):
    """Geometry of the completion-rate bars: one bar per row, 0-100 %."""
    bars = []
    for index, row in enumerate(rows):
        rate = row.rate or 0
        bars.append({"y": index * (BAR_HEIGHT + BAR_GAP), "name": row.name,
                     "width": round(CHART_WIDTH * rate, 1), "label": percent(row.rate)})
    return {"bars": bars, "height": max(len(rows), 1) * (BAR_HEIGHT + BAR_GAP) + 24,
            "label_width": LABEL_WIDTH, "chart_width": CHART_WIDTH, "bar_height": BAR_HEIGHT,
            "ticks": [(round(CHART_WIDTH * t / 4, 1), f"{25 * t}%") for t in range(5)]}


def stage_chart(rows):
    """Geometry of the stacked bars: each row's included physicians split by stage."""
    colours = {key: colour for key, _label, colour, _states in model.STAGES}
    bars = []
    for index, row in enumerate(rows):
        stages = row.stages()
        total = sum(n for _key, n in stages)
        x, segments = 0.0, []
        for key, n in stages:
            if n and total:
                width = CHART_WIDTH * n / total
                segments.append({"x": round(x, 1), "width": round(width, 1),
                                 "colour": colours[key], "n": n})
                x += width
        bars.append({"y": index * (BAR_HEIGHT + BAR_GAP), "name": row.name,
                     "segments": segments, "total": total})
    return {"bars": bars, "height": max(len(rows), 1) * (BAR_HEIGHT + BAR_GAP) + 8,
            "label_width": LABEL_WIDTH, "chart_width": CHART_WIDTH, "bar_height": BAR_HEIGHT,
            "legend": [(str(label), colour) for _key, label, colour, _s in model.STAGES]}


class OverviewView(BaseView):
    """周期总进度 for administrations (their subtree) and operators (every province)."""

    route_base = "/overview"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        actor = scope.current_actor()
        region_id = request.args.get("region") or None
        cycle_id = request.args.get("cycle") or None
        cycle = model.chosen_cycle(cycle_id)
        key = request.args.get("sort", "rate")
        key = key if key in model.SORT_KEYS else "rate"
        descending = request.args.get("desc") == "1"
        try:
            page = int(request.args.get("page", 0))
        except ValueError:
            page = 0
        # Sorted and paged in SQL: only the page's rows are read in full.
        data = model.overview(actor, cycle, region_id, key, descending, page, PAGE_SIZE)
        rows, page = data.rows, data.page
        pages = max(1, -(-data.row_count // PAGE_SIZE))

        def sort_url(column):
            flip = "0" if (column == key and descending) else "1" if column == key else (
                "0" if column in ("name", "rate") else "1")
            return url_for(".index", region=region_id, cycle=cycle_id, sort=column, desc=flip)

        def page_url(number):
            return url_for(".index", region=region_id, cycle=cycle_id, sort=key,
                           desc="1" if descending else "0", page=number)

        # A link per row: the routes are looked up once, the rows' ids appended.
        region_link = url_for(".index")
        cycle_arg = {"cycle": cycle_id} if cycle_id else {}
        institution_link = url_for("EnrollmentView.list")

        def drill_url(row):
            if row.administration_id is not None:
                return f"{region_link}?{urlencode({'region': row.administration_id, **cycle_arg})}"
            return f"{institution_link}?_flt_0_institution={row.institution_id}"

        return self.render_template(
            "overview/index.html", cycle=cycle, data=data, rows=rows, columns=model.COLUMNS,
            sort_key=key, descending=descending, sort_url=sort_url, drill_url=drill_url,
            percent=percent, completion=completion_chart(rows), stages=stage_chart(rows),
            page=page, pages=pages, page_numbers=page_numbers(page, pages),
            page_size=PAGE_SIZE, page_url=page_url,
            row_count=data.row_count, cycles=model.cycles(), cycle_id=cycle_id, region_id=region_id,
            user=g.user)


def register(appbuilder):
    appbuilder.add_view(OverviewView, "OverviewView", label=_l("Cycle overall progress"),
                        icon="fa-line-chart", category="Reports",
                        category_label=_l("Statistics and reports"))
