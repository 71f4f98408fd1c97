"""Render the playbook: Markdown pages from Jinja2 templates, an HTML site made from them, and a PDF through WeasyPrint.

The pages (paths are Markdown paths; the HTML site uses the same paths with `.html`):

    index.md            introduction: the practice and the maturity reading
    roles.md            roles and responsibilities, the permission table, the RACI matrix
    framework.md        the journey framework: hierarchy, owners, levels, personas, KPIs
    lifecycle.md        the lifecycle diagram, every transition with its guards and approvers
    rituals.md          cadences, attendees, agendas, calendar subscriptions
    prioritisation.md   the scoring model with a worked example from the data
    glossary.md         the organisation's terminology
    tools.md            Slack, Jira and the API
    onboarding.md       one page per role (roles/ROLE.md) and per person (people/HANDLE.md)
"""

from __future__ import annotations

import datetime as dt
import functools
import html as html_module
import posixpath
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import jinja2
from markupsafe import Markup
import unicodedata

from govern.policy import ACTIONS, ROLE_DESCRIPTIONS, ROLES, Scope
from govern.playbook import words
from govern.playbook.data import (
    MAX_LISTED_JOURNEYS, ONBOARDING_ROLES, RACI_LEGEND, RACI_ROLES, ROLE_TITLES, Playbook, raci, raci_roles, role_grants,
)
from govern.playbook.markup import Raw, md_code, md_escape, to_html

FORMATS = ("html", "md", "pdf")
OPEN_LISTED = 30  # open opportunities listed on a person's page (the rest are counted)
PDF_INSTALL_HINT = (
    "PDF output needs WeasyPrint, an optional extra: pip install 'journey-govern[pdf]' "
    "(and its system libraries; on Debian or Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
)

SECTIONS = (
    ("index.md", "Introduction", "index.md.j2"),
    ("roles.md", "Roles and responsibilities", "roles.md.j2"),
    ("framework.md", "The journey framework", "framework.md.j2"),
    ("lifecycle.md", "The lifecycle", "lifecycle.md.j2"),
    ("rituals.md", "Rituals", "rituals.md.j2"),
    ("prioritisation.md", "Prioritisation", "prioritisation.md.j2"),
    ("glossary.md", "Glossary", "glossary.md.j2"),
    ("tools.md", "Tools", "tools.md.j2"),
    ("onboarding.md", "Onboarding", "onboarding.md.j2"),
    ("configuration.md", "Configuring govern.yaml (administrators)", "configuration.md.j2"),
)

# What each kind of lifecycle state means, in the playbook's words (govern.queries.states.STATE_KINDS).
STATE_KIND_WORDS = {
    "active": "work in progress",
    "evaluation": "delivered, waiting for its KPI outcome",
    "parked": "put aside for now; it can come back",
    "final": "closed for good",
}


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or its system libraries) is not installed; the message says what to install."""


def pdf_available() -> bool:
    """Whether WeasyPrint and its system libraries can be loaded."""
    try:
        import weasyprint  # noqa: F401, PLC0415 - optional extra
    except (ImportError, OSError):
        return False
    return True


@dataclass(frozen=True)
class Page:
    path: str  # Markdown path, e.g. "people/lotte.md"
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    section: str = ""  # the navigation entry it belongs to

    @property
    def html_path(self) -> str:
        return self.path[:-3] + ".html"


def pages(pb: Playbook) -> list[Page]:
    """Every page of the playbook, in reading order."""
    out = [Page(path, title, template, section=path) for path, title, template in SECTIONS]
    for role in ONBOARDING_ROLES:
        out.append(Page(f"roles/{role}.md", f"Your first week as {role}", "role.md.j2", {"role": role},
                        section="onboarding.md"))
    for person in pb.people:
        out.append(Page(f"people/{person.handle}.md", person_title(pb, person), "person.md.j2",
                        {"subject": person}, section="onboarding.md"))
    return out


def person_title(pb: Playbook, person) -> str:
    """'Your first week as coordinator of Switching providers' (from the person's seats and owned journeys)."""
    parts: list[str] = []
    for role, journey_key in person.seats:
        if journey_key is None:
            parts.append(f"{role} of the journey council")
        else:
            parts.append(f"{role} of {pb.journey(journey_key).name}")
    seat_journeys = {jk for _, jk in person.seats}
    extra = [pb.journey(k).name for k in person.owned if k not in seat_journeys]
    if extra and not parts:
        parts.append("journey owner of " + words_list(extra))
    if not parts:
        return f"Your first week at {pb.org_name}"
    return "Your first week as " + words_list(parts)


def words_list(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- the template environment ------------------------------------------------------------------------------------------


def grant_cell(scope: Scope | None, role: str) -> str:
    """One cell of the permission table: '✓ everywhere', '✓ their journeys' (or 'journeys they own'), '✗'."""
    if scope is Scope.ALL:
        return "✓ everywhere"
    if scope is Scope.SCOPED:
        return "✓ journeys they own" if role == "owner" else "✓ their journeys"
    return "✗"


def kpi_target(k) -> str:
    if k.target is None:
        return "no target"
    unit = f" {k.unit}" if k.unit else ("%" if k.scale == "percent" else "")
    better = "or more" if k.direction == "higher" else "or less"
    return f"{words.number(k.target)}{unit} {better}"


def kpi_latest(k) -> str:
    if k.latest is None:
        return "not measured yet"
    unit = f" {k.unit}" if k.unit else ("%" if k.scale == "percent" else "")
    return f"{words.number(k.latest)}{unit} ({k.latest_on:%Y-%m-%d})"


def slug(text: str) -> str:
    """An anchor id from any text (stable, lower-case, ASCII letters, digits and dashes)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "term"


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.0%}"


@functools.lru_cache(maxsize=1)
@functools.cache
def configuration_reference() -> Raw:
    """The generated govern.yaml reference (package data), without its own title, for the administrators' page."""
    text = (resources.files("govern.schema") / "govern-yaml.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    body = [line for line in lines[1:] if not line.startswith("<!--")] if lines[:1] and lines[0].startswith("# ") \
        else lines
    return Raw(_product_nouns_as_placeholders("\n".join(body).strip()))


_NOUN = re.compile(r"\b(customers?|opportunit(?:y|ies))\b", re.IGNORECASE)


def _product_nouns_as_placeholders(markdown: str) -> str:
    """The product's nouns in prose as `{customer}` / `{opportunities}` placeholders, so the page says them in the
    organisation's words (`Vocabulary.fill` on the rendered page); code spans and fenced blocks stay as written."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", markdown, flags=re.S)

    def placeholder(match: "re.Match[str]") -> str:
        word = match.group(1)
        key = word.lower()
        return "{" + (key[:1].upper() + key[1:] if word[:1].isupper() else key) + "}"

    return "".join(part if part.startswith("`") else _NOUN.sub(placeholder, part) for part in parts)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("govern.playbook", "templates"),
        autoescape=False,  # Markdown, escaped by `finalize`: every {{ value }} is data unless it is Raw
        finalize=md_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.tests["contains"] = lambda seq, item: item in seq
    env.filters["sentence"] = lambda text: text[:1].upper() + text[1:] if text else text
    env.globals.update(ACTIONS=ACTIONS, ROLES=ROLES, ROLE_DESCRIPTIONS=ROLE_DESCRIPTIONS, ROLE_TITLES=ROLE_TITLES,
                       Scope=Scope, ONBOARDING_ROLES=ONBOARDING_ROLES, code=md_code, code_cell=lambda value: md_code(value, in_table=True), n=words.number,
                       plural=words.plural, words_list=words_list, role_grants=role_grants,
                       MAX_LISTED_JOURNEYS=MAX_LISTED_JOURNEYS, OPEN_LISTED=OPEN_LISTED, raw=Raw, pct=_pct,
                       raci=raci, raci_roles=raci_roles, RACI_ROLES=RACI_ROLES, RACI_LEGEND=RACI_LEGEND,
                       grant_cell=grant_cell, kpi_target=kpi_target, kpi_latest=kpi_latest, slug=slug,
                       configuration_reference=configuration_reference, state_kind_words=STATE_KIND_WORDS)
    return env


@functools.lru_cache(maxsize=1)
def _html_environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("govern.playbook", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _helpers(pb: Playbook, page: Page, fmt: str, live: bool) -> dict[str, Callable[..., Any] | Any]:
    here = posixpath.dirname(page.path)

    # Links are the same on every page of one folder: made once per folder and build (people/ has hundreds of pages).
    shared = pb.cache.setdefault((here, fmt, live), {"relpaths": {}, "links": {}, "rows": {}})
    relpaths: dict[str, str] = shared["relpaths"]
    links: dict[tuple[Any, str, str | None], Raw] = shared["links"]
    rows: dict[int, Raw] = shared["rows"]

    def href(target: str, anchor: str | None = None) -> str:
        rel = relpaths.get(target)
        if rel is None:
            rel = relpaths[target] = posixpath.relpath(target, here or ".") if target else ""
        return rel + (f"#{anchor}" if anchor else "")

    def link(text: Any, target: str, anchor: str | None = None) -> Raw:
        key = (text, target, anchor)
        made = links.get(key)
        if made is None:
            made = links[key] = Raw(f"[{md_escape(text)}]({href(target, anchor)})")
        return made

    def anchor(ident: str) -> Raw:
        return Raw(f'<a id="{ident}"></a>')

    def person(handle: str | None, *, fallback: str = "nobody") -> Raw:
        if handle is None:
            return Raw(md_escape(fallback))
        try:
            p = pb.person(handle)
        except KeyError:
            return Raw(md_escape(handle))
        return link(p.name, f"people/{p.handle}.md")

    def people(handles) -> Raw:
        handles = list(handles)
        if not handles:
            return Raw("nobody yet")
        return Raw(words_list([person(h) for h in handles]))

    def journey(key: str | None) -> Raw:
        if key is None:
            return Raw("the whole council")
        return link(pb.journey(key).name, "framework.md", f"journey-{key}")

    def journeys(keys, limit: int = MAX_LISTED_JOURNEYS) -> Raw:
        keys = list(keys)
        if len(keys) > limit:
            shown = [journey(k) for k in keys[:limit]]
            return Raw(", ".join(shown) + f" and {len(keys) - limit} more")
        return Raw(words_list([journey(k) for k in keys]))

    state_titles = {s["name"]: s.get("title") or s["name"] for s in pb.lifecycle["states"]}

    def state(name: str) -> Raw:
        """A state by what people call it (its title), linked to its description."""
        if name not in state_titles:  # an opportunity still in a state of a lifecycle used before
            return Raw(md_escape(name))
        return link(state_titles[name], "lifecycle.md", f"state-{name}")

    def opp_row(o) -> Raw:
        """A table row for an open opportunity: key and title, state, owner."""
        row = rows.get(o.id)
        if row is None:
            row = rows[o.id] = Raw(f"| {md_code(o.key)} {md_escape(o.title)} | {state(o.state)} | "
                                   f"{person(o.owner)} |")
        return row

    def open_on(keys) -> list:
        """The open opportunities of these journeys, each once, oldest first."""
        seen: dict[int, Any] = {}
        for key in keys:
            for o in pb.journey(key).open_opportunities:
                seen.setdefault(o.id, o)
        return sorted(seen.values(), key=lambda o: o.number)

    def ritual(key: str) -> Raw:
        r = next(r for r in pb.rituals if r.key == key)
        return link(r.name, "rituals.md", f"ritual-{key}")

    def role(name: str) -> Raw:
        return link(name, f"roles/{name}.md") if name in ONBOARDING_ROLES else link(name, "roles.md", f"role-{name}")

    def calendar_link(ritual_key: str | None = None, handle: str | None = None) -> Raw:
        """Where to get a calendar subscription: a button in the live playbook, the web address in a static build."""
        query = f"?ritual={ritual_key}" if ritual_key else ""
        if live:
            return Raw(f"[{'subscribe to this ritual' if ritual_key else 'get your calendar link'}]"
                       f"({href('calendar')}{query})")
        if pb.base_url:
            return Raw(f"[{'subscribe to this ritual' if ritual_key else 'get your calendar link'}]"
                       f"({pb.base_url}/playbook/calendar{query})")
        who = handle or "HANDLE"
        command = (f"govern rituals calendar-token --ritual {ritual_key}" if ritual_key
                   else f"govern rituals calendar-token --person {who} --as {who}")
        return Raw("sign in to the web app and open " + md_code(f"/playbook/calendar{query}") + " (or run "
                   + md_code(command) + ")")

    def pb_persona_name(key: str) -> str:
        return next((p["name"] for p in pb.personas if p["key"] == key), key)

    return {"pb_persona_name": pb_persona_name, "pb": pb, "w": pb.words, "page": page, "fmt": fmt, "live": live, "href": href, "link": link, "anchor": anchor,
            "person": person, "people": people, "journey": journey, "journeys": journeys, "ritual": ritual,
            "state": state, "opp_row": opp_row, "open_on": open_on, "role": role, "calendar_link": calendar_link, "as_of": pb.as_of.strftime("%Y-%m-%d"),
            "as_of_time": pb.as_of.strftime("%Y-%m-%d %H:%M UTC")}


def render_markdown(pb: Playbook, page: Page, *, fmt: str = "md", live: bool = False) -> str:
    """One page as Markdown (`fmt="html"` embeds the SVG diagram instead of Mermaid, for the HTML site)."""
    context = {**_helpers(pb, page, fmt, live), **page.context}
    text = _environment().get_template(page.template).render(context)
    # Product wording kept as placeholders (`{opportunity}`, from the permission table, effects …) in the org's words.
    text = pb.words.fill(text, escape=md_escape)
    return text.rstrip() + "\n"


def render_html(pb: Playbook, page: Page, all_pages: list[Page], *, live: bool = False,
                app_bar: dict | None = None) -> str:
    """One page of the HTML site: the page's Markdown converted, inside the layout with navigation.

    `app_bar` (the live playbook inside the web app): links back into the app and to the reader's own page."""
    body = to_html(render_markdown(pb, page, fmt="html", live=live))
    here = posixpath.dirname(page.path)

    def rel(path: str) -> str:
        return posixpath.relpath(path, here or ".")

    nav = [{"href": rel(p.html_path), "title": p.title, "current": p.path == page.section}
           for p in all_pages if p.path == p.section]
    return _html_environment().get_template("layout.html.j2").render(
        title=page.title, org=pb.org_name, body=Markup(body), nav=nav,
        css=rel("style.css"), home=rel("index.html"), as_of=pb.as_of.strftime("%Y-%m-%d"), live=live,
        app_bar=app_bar)


def render_layout(*, title: str, body: Markup, org: str = "") -> str:
    """A page outside the playbook proper (the live calendar page) in the playbook's layout, without navigation."""
    return _html_environment().get_template("layout.html.j2").render(
        title=title, org=org or "Journey management", body=body, nav=[], css="style.css", home="index.html",
        as_of="", live=True)


def stylesheet() -> bytes:
    return (Path(__file__).parent / "templates" / "style.css").read_bytes()


def build_markdown(pb: Playbook) -> dict[str, bytes]:
    return {p.path: render_markdown(pb, p).encode("utf-8") for p in pages(pb)}


def build_html(pb: Playbook, *, live: bool = False) -> dict[str, bytes]:
    all_pages = pages(pb)
    files = {p.html_path: render_html(pb, p, all_pages, live=live).encode("utf-8") for p in all_pages}
    files["style.css"] = stylesheet()
    return files


def build_pdf(pb: Playbook) -> bytes:
    """Every page in one PDF document (links between pages become links within it), through WeasyPrint."""
    try:
        from weasyprint import HTML  # noqa: PLC0415 - optional extra
    except (ImportError, OSError) as exc:  # OSError: the Python package is there but pango is not
        raise PdfUnavailable(f"{PDF_INSTALL_HINT} ({exc.__class__.__name__}: {exc})") from None
    document = pdf_document(pb)
    return HTML(string=document).write_pdf()


def pdf_document(pb: Playbook) -> str:
    """The whole playbook as one HTML document with print styles, each page a chapter (what the PDF is made of)."""
    all_pages = pages(pb)
    chapters = []
    for p in all_pages:
        body = to_html(render_markdown(pb, p, fmt="html"))
        body = _pdf_links(body, p)
        chapters.append(f'<section class="chapter" id="page-{_page_id(p.html_path)}">{body}</section>')
    return _html_environment().get_template("layout.html.j2").render(
        title=f"{pb.org_name} journey management playbook", org=pb.org_name,
        body=Markup("\n".join(chapters)), nav=[], css="", inline_css=Markup(stylesheet().decode("utf-8")),
        home="#page-index", as_of=pb.as_of.strftime("%Y-%m-%d"), live=False)


def _page_id(path: str) -> str:
    return path.replace("/", "-").removesuffix(".html")


def _pdf_links(body: str, page: Page) -> str:
    """Within one PDF every page is a chapter: its ids get the chapter's prefix (pages reuse ids such as `may`), and a
    link to another page (or to an anchor on it) points at that chapter (or anchor) inside the document."""
    here = posixpath.dirname(page.path)
    own = _page_id(page.html_path)

    def target_id(url: str) -> str | None:
        if "://" in url or url.startswith(("mailto:", "webcal:")):
            return None
        path, _, anchor = url.partition("#")
        chapter = _page_id(posixpath.normpath(posixpath.join(here, path))) if path else own
        return f"{chapter}--{anchor}" if anchor else f"page-{chapter}"

    def href(match: "re.Match[str]") -> str:
        found = target_id(html_module.unescape(match.group(1)))
        return match.group(0) if found is None else f'href="#{found}"'

    # Only the playbook's own anchors (headings, <a id>); the diagram's SVG keeps its ids (its arrows refer to them).
    body = re.sub(r'(<(?:h[1-6]|a) id=)"([^"]*)"', lambda m: f'{m.group(1)}"{own}--{m.group(2)}"', body)
    return re.sub(r'href="([^"]*)"', href, body)


def build(pb: Playbook, fmt: str) -> dict[str, bytes]:
    """The files of the playbook in one format: {relative path: bytes}."""
    if fmt == "html":
        return build_html(pb)
    if fmt == "md":
        return build_markdown(pb)
    if fmt == "pdf":
        return {"playbook.pdf": build_pdf(pb)}
    raise ValueError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")


def write(files: dict[str, bytes], out: Path) -> list[Path]:
    """Write the files under `out` (created if needed); files of an earlier build that are not rebuilt stay."""
    written = []
    for rel_path in sorted(files):
        target = out / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[rel_path])
        written.append(target)
    return written


def parse_as_of(value: str | None, today: Callable[[], dt.date]) -> dt.datetime:
    """`--as-of`: a date (midnight UTC), an ISO date-time (UTC unless it says otherwise) or 'today'."""
    if value is None or value.strip().lower() == "today":
        day = today()
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of takes a date (2026-11-23), a date and time (2026-11-23T09:00) or 'today'; "
                         f"got {value!r}") from None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)
