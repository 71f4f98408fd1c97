"""Evidence intake over HTTP: `POST /api/v1/evidence/imports` (a file upload or JSON rows) and the signed webhook
`POST /intake/<source>`.

Both parse their input and call `govern.services.intake` (import_records / feed_records); the mapping and the upsert
are the core's. The webhook's authenticity is checked on the raw bytes BEFORE anything is parsed
(`X-Govern-Timestamp` and `X-Govern-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, keyed by the
secret in the environment variable the source names in `secret_env`); it is signed, so no CSRF token applies, and
no session or token is needed. A source whose secret variable is unset has its webhook disabled (403, saying so).
"""

from __future__ import annotations


from flask import Blueprint as FlaskBlueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from govern.api.schemas import Key
from govern.errors import InvalidInput, PermissionDenied
from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session, runtime
from govern.services import intake
from govern.services.intake_readers import read_file

blp = Blueprint("evidence_imports", __name__, url_prefix="/evidence",
                description="Evidence imports from the sources declared in govern.yaml (`sources:`)")
webhook_bp = FlaskBlueprint("intake_webhook", __name__)

MAX_JSON_ROWS = 100_000


class EvidenceImportRowsSchema(Schema):
    source = Key(required=True, metadata={"description": "the source's key in govern.yaml"})
    rows = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=MAX_JSON_ROWS),
                       metadata={"description": "records as the source's export has them: field name → value"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "map and count; write nothing"})
    skip_invalid = fields.Boolean(load_default=False,
                                  metadata={"description": "write the valid rows even when some are rejected"})
    preview = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100),
                             metadata={"description": "how many mapped rows to send back"})


class EvidenceImportUploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "the export (.csv, .xlsx, .json or .ndjson)"})
    source = Key(required=True)
    format = fields.String(validate=validate.OneOf(["csv", "xlsx", "json", "ndjson"]))
    dry_run = fields.Boolean(load_default=False)
    skip_invalid = fields.Boolean(load_default=False)
    preview = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100))


class EvidenceRejectedRowSchema(Schema):
    row = fields.Integer(allow_none=True)
    reason = fields.String()


class EvidenceImportResultSchema(Schema):
    source = fields.String()
    dry_run = fields.Boolean()
    written = fields.Boolean()
    new = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.List(fields.Nested(EvidenceRejectedRowSchema))
    new_keys = fields.List(fields.String(), metadata={"description": "the first new insights' keys"})
    updated_keys = fields.List(fields.String())
    preview = fields.List(fields.Dict(), metadata={"description": "the first mapped rows (as asked by `preview`)"})
    likely_duplicates = fields.Function(lambda r: {
        "label": "suggestion", "count": r.duplicate_count, "checked": r.duplicates_checked,
        "unchecked": r.duplicates_unchecked,
        "pairs": [{"row": d.row, "external_id": d.external_id, "text": d.text[:300], "duplicate_of": d.duplicate_of,
                   "duplicate_text": d.duplicate_text[:300], "score": d.score} for d in r.duplicates]},
        metadata={"description": "new rows near-identical to an existing insight (a suggestion, the import is not "
                                 "refused): the count, the first pairs, and how many new rows were compared "
                                 "(`checked`, at most 1000) or not (`unchecked`)"})


_FORM_FIELDS = ("source", "format", "dry_run", "skip_invalid", "preview")


@blp.route("/imports", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": EvidenceImportRowsSchema},
    "multipart/form-data": {"schema": EvidenceImportUploadSchema},
}})
@blp.response(200, EvidenceImportResultSchema)
@blp.errors(403, 404, 413, 422)
def import_evidence():
    """Import a source's records: a file upload (multipart: `file`, `source`, …) or JSON (`source`, `rows`). New
    records are added, changed ones update their insight (audited), unchanged ones write nothing. All-or-nothing
    unless `skip_invalid`: a rejected row means 422 with every rejected row and nothing written."""
    actor = current_actor()
    config = runtime().config
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        form = {k: request.form[k] for k in _FORM_FIELDS if k in request.form}
        args = _load(EvidenceImportUploadSchema(), {**form, "file": upload.filename if upload else None})
        if upload is None or not upload.filename:
            raise InvalidInput("file: required (a .csv, .xlsx, .json or .ndjson export)", {"file": "required"})
        upload_id = intake.stash_upload(config.instance_path, upload.stream, upload.filename, config.max_import_bytes)
        path = intake.stashed_upload(config.instance_path, upload_id)
        try:
            table = read_file(path, name=upload.filename, format=args.get("format"),
                              max_bytes=config.max_import_bytes)
            return intake.import_records(db_session(), actor, args["source"], table.rows, header=table.header,
                                         dry_run=args["dry_run"], skip_invalid=args["skip_invalid"],
                                         preview=args["preview"])
        finally:
            path.unlink(missing_ok=True)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("send JSON {\"source\": …, \"rows\": […]} or a multipart upload with a file",
                           {"body": "expected a JSON object or a file upload"})
    args = _load(EvidenceImportRowsSchema(), body)
    return intake.import_records(db_session(), actor, args["source"], list(enumerate(args["rows"], start=1)),
                                 dry_run=args["dry_run"], skip_invalid=args["skip_invalid"], preview=args["preview"])


def _load(schema: Schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = {k: "; ".join(v) if isinstance(v, list) and all(isinstance(m, str) for m in v) else str(v)
                    for k, v in exc.messages.items()} if isinstance(exc.messages, dict) else {"body": str(exc)}
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in messages.items()), messages) from None


# --- the signed webhook ------------------------------------------------------------------------------------------------


@webhook_bp.post("/intake/<source_key>")
def receive(source_key: str):
    """One JSON record or a list, signed by the source's secret; answers the counts and any refused records."""
    config = runtime().config
    session = db_session()
    source = intake.get_source(session, source_key)  # 404 for an unknown source, before the body is read
    secret = config.intake_secret(source.get("secret_env"))
    if not secret:
        named = source.get("secret_env")
        raise PermissionDenied(f"the webhook of source '{source_key}' is disabled: "
                        + (f"set {named} in the environment" if named else "it declares no secret_env in govern.yaml"),
                        {"source": source_key})
    body = request.get_data(cache=False)  # raw bytes, capped by the request size limit; parsed only once verified
    intake.verify_signature(secret, request.headers.get(intake.TIMESTAMP_HEADER),
                            request.headers.get(intake.SIGNATURE_HEADER), body)
    result = intake.feed_records(session, source_key, body)
    payload = EvidenceImportResultSchema().dump(result)
    response = jsonify(payload)
    response.status_code = 422 if result.rejected and not (result.new or result.updated or result.unchanged) else 200
    return response


__all__ = ["blp", "webhook_bp"]
