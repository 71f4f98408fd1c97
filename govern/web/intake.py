"""Evidence → Import: upload a source's export, see a preview (the counts, the first mapped rows, every rejected
row), confirm. The upload is kept in the instance folder under a random id between the preview and the confirmation
(removed after it, or after six hours); the mapping and the upsert are govern.services.intake's."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from govern.errors import InvalidInput, NotFound
from govern.http.request import runtime
from govern.services import intake
from govern.services.intake_readers import read_file
from govern.web import bp
from govern.web.support import actor, db_session, flash_message, login_required

PREVIEW = 20
LARGE_IMPORT = 5000  # rows: from here the preview says the confirmation takes a while, without a progress bar


def _form(errors: dict | None = None, values: dict | None = None, status: int = 200):
    session = db_session()
    return render_template("evidence_import.html", sources=intake.sources(session), errors=errors or {},
                           values=values or {}, preview=None), status


@bp.get("/evidence/import")
@login_required
def evidence_import():
    actor().require("evidence.record")
    return _form(values={"source": request.args.get("source", "")})


@bp.post("/evidence/import")
@login_required
def evidence_import_upload():
    """Keep the upload and show what importing it would do (a dry run)."""
    me = actor()
    me.require("evidence.record")
    config = runtime().config
    source = request.form.get("source", "")
    upload = request.files.get("file")
    values = {"source": source}
    if upload is None or not upload.filename:
        return _form({"file": "Choose the export to import (.csv, .xlsx, .json or .ndjson)."}, values, 422)
    try:
        intake.get_source(db_session(), source)
        upload_id = intake.stash_upload(config.instance_path, upload.stream, upload.filename, config.max_import_bytes)
        result = _run(upload_id, source, upload.filename, dry_run=True, skip_invalid=True)
    except (InvalidInput, NotFound) as exc:
        db_session().rollback()
        return _form({"file" if "source" not in (exc.details or {}) else "source": exc.message}, values, 422)
    return render_template("evidence_import.html", sources=intake.sources(db_session()), errors={}, values=values,
                           preview=result, upload_id=upload_id, filename=upload.filename,
                           large_import=LARGE_IMPORT)


@bp.post("/evidence/import/confirm")
@login_required
def evidence_import_confirm():
    me = actor()
    me.require("evidence.record")
    source = request.form.get("source", "")
    upload_id = request.form.get("upload", "")
    filename = request.form.get("filename", "") or upload_id
    skip = request.form.get("skip_invalid") == "1"
    try:
        result = _run(upload_id, source, filename, dry_run=False, skip_invalid=skip)
    except intake.ImportRefused as refused:
        db_session().rollback()
        return render_template("evidence_import.html", sources=intake.sources(db_session()),
                               errors={"_form": refused.message}, values={"source": source},
                               preview=refused.result, upload_id=upload_id, filename=filename,
                               large_import=LARGE_IMPORT), 422
    except (InvalidInput, NotFound) as exc:
        db_session().rollback()
        return _form({"file": exc.message}, {"source": source}, 422)
    intake.stashed_upload(runtime().config.instance_path, upload_id).unlink(missing_ok=True)
    duplicates = f"; {result.duplicates_line()} (a suggestion: merge them from the insight's page)" \
        if result.duplicate_count else ""
    flash_message("ok", f"Imported from {source}: {result.summary_line()}{duplicates}")
    return redirect(url_for("web.evidence_list"))


def _run(upload_id: str, source: str, filename: str, *, dry_run: bool, skip_invalid: bool):
    config = runtime().config
    path = intake.stashed_upload(config.instance_path, upload_id)
    table = read_file(path, name=filename if filename.lower().endswith(path.suffix) else path.name,
                      max_bytes=config.max_import_bytes)
    return intake.import_records(db_session(), actor(), source, table.rows, header=table.header, dry_run=dry_run,
                                 skip_invalid=skip_invalid, preview=PREVIEW)
