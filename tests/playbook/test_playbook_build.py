"""The build: deterministic bytes, links inside the HTML site that all resolve, the CLI and the PDF message."""

from __future__ import annotations

import posixpath
from html.parser import HTMLParser

import pytest

from govern.playbook import build
from tests.conftest import cli_invoker

from .conftest import make_playbook


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            assert attrs["id"] not in self.ids, f"duplicate id {attrs['id']}"
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name) is not None and tag in ("a", "link", "img", "script"):
                self.hrefs.append(attrs[name])


def check_links(files: dict[str, bytes]) -> int:
    parsed = {}
    for path, data in files.items():
        if path.endswith(".html"):
            parser = _Links()
            parser.feed(data.decode("utf-8"))
            parsed[path] = parser
    checked = 0
    for path, parser in parsed.items():
        for href in parser.hrefs:
            assert href, f"empty link in {path}"
            if "://" in href or href.startswith(("mailto:", "webcal:")):
                continue
            target, _, anchor = href.partition("#")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target)) if target else path
            assert resolved in files, f"{path}: link {href!r} points at a missing file {resolved!r}"
            if anchor:
                assert anchor in parsed[resolved].ids, f"{path}: link {href!r}: no id {anchor!r} in {resolved}"
            checked += 1
    return checked


def test_two_builds_give_identical_bytes(example_db):
    for fmt in ("html", "md"):
        first = build.build(make_playbook(example_db), fmt)
        second = build.build(make_playbook(example_db), fmt)
        assert sorted(first) == sorted(second)
        for path in first:
            assert first[path] == second[path], f"{fmt}: {path} differs between two builds"


def test_every_link_in_the_html_site_resolves(html_files):
    assert "style.css" in html_files and "index.html" in html_files
    assert check_links(html_files) > 500


def test_every_link_resolves_with_a_base_url_too(example_db):
    files = build.build(make_playbook(example_db, base_url="https://govern.example.com"), "html")
    check_links(files)
    assert b'href="https://govern.example.com/playbook/calendar"' in files["people/lotte.html"]


def test_markdown_links_point_at_markdown_pages(markdown_files):
    import re

    for path, text in markdown_files.items():
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            assert resolved in markdown_files, f"{path}: {target}"


@pytest.fixture
def run(example_db, tmp_path):
    return cli_invoker(example_db, tmp_path)


def test_cli_builds_html_and_markdown_the_same_each_time(run, tmp_path):
    first = run("playbook", "build", "--out", str(tmp_path / "a"), "--as-of", "2026-11-23")
    assert first.exit_code == 0, first.output
    assert "playbook written" in first.output and "index.html" in first.output
    run("playbook", "build", "--out", str(tmp_path / "b"), "--as-of", "2026-11-23")
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for rel in a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    md = run("playbook", "build", "--out", str(tmp_path / "md"), "--format", "md", "--as-of", "2026-11-23")
    assert md.exit_code == 0 and (tmp_path / "md" / "people" / "lotte.md").exists()


def test_cli_refuses_a_bad_as_of(run, tmp_path):
    result = run("playbook", "build", "--out", str(tmp_path / "x"), "--as-of", "next tuesday")
    assert result.exit_code == 2 and "--as-of takes a date" in result.output


def test_pdf_without_weasyprint_says_what_to_install(run, tmp_path):
    if build.pdf_available():
        result = run("playbook", "build", "--out", str(tmp_path / "pdf"), "--format", "pdf", "--as-of", "2026-11-23")
        assert result.exit_code == 0 and (tmp_path / "pdf" / "playbook.pdf").read_bytes().startswith(b"%PDF")
        return
    result = run("playbook", "build", "--out", str(tmp_path / "pdf"), "--format", "pdf")
    assert result.exit_code == 1
    assert "pip install 'journey-govern[pdf]'" in result.output
    assert "libpango-1.0-0 libpangoft2-1.0-0" in result.output
    assert not (tmp_path / "pdf").exists()


def test_the_pdf_document_links_resolve_inside_it(example_playbook):
    """The single HTML document WeasyPrint turns into the PDF: every chapter there, every link to an id in it."""
    document = build.pdf_document(example_playbook).encode("utf-8")
    assert document.count(b'<section class="chapter"') == len(build.pages(example_playbook))
    assert check_links({"playbook.html": document}) > 500


def test_another_lifecycle_and_an_empty_portfolio_build_with_sound_links(db, operator):
    """The playbook follows the configured lifecycle (here the triple diamond) and copes with no runtime data."""
    from govern.orgfile.load import apply_text
    from govern.workflows.definition import load_definition

    from .conftest import EXAMPLE_YAML

    text = EXAMPLE_YAML.read_text(encoding="utf-8").replace("\nlifecycle: default\n", "\nlifecycle: triple_diamond\n")
    with db.session_scope() as session:
        apply_text(session, operator, text)
    pb = make_playbook(db)
    files = build.build(pb, "html")
    check_links(files)
    lifecycle = build.build(pb, "md")["lifecycle.md"].decode()
    for name, state in load_definition("triple_diamond").states.items():
        assert f'<a id="state-{name}"></a>' + state.title in lifecycle  # headed by what people call it
    assert "2 managers" in lifecycle
    assert "No open opportunity has every input recorded yet" in build.build(pb, "md")["prioritisation.md"].decode()
