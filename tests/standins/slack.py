"""A stand-in for the Slack Web API and for Slack's side of slash commands and interactivity, for tests and benchmarks.

It answers the Web API methods govern uses (`auth.test`, `chat.postMessage`, `chat.postEphemeral`, `chat.update`,
`users.lookupByEmail`, `users.info`, `users.list` (cursor-paged), `views.open`, `views.update`, `chat.getPermalink`,
`conversations.history`, `conversations.list` (cursor-paged), `conversations.open`) with the JSON shapes of the public
documentation: HTTP 200 with `ok: true`, or
HTTP 200 with `ok: false` and an `error` code (`not_authed`, `invalid_auth`, `channel_not_found`, `users_not_found`,
`message_not_found`, `no_text`, `invalid_blocks`, `invalid_trigger_id`, `expired_trigger_id` …), and HTTP 429 with a
`Retry-After` header when rate limited. It is driven by the real `slack_sdk.WebClient(base_url=standin.base_url)`.

It also receives posts to `response_url`s that it hands out (as Slack does: at most 5 posts within 30 minutes), and
issues `trigger_id`s (valid 3 seconds) so that `views.open` behaves as it does in Slack. `SlackSide` builds slash
commands and interaction payloads and signs them the way Slack signs its requests.

Message metadata, as documented ("Using message metadata"; chat.postMessage's `metadata` argument): a post may carry
`{"event_type": str, "event_payload": object}` (else `invalid_metadata_format`); it is stored with the message and
`conversations.history` answers it only when asked with `include_all_metadata=true`. `conversations.history` answers
newest first, from `latest` back to `oldest` (exclusive unless `inclusive`), `limit` per page (default 100, at most
999) with `has_more` and `response_metadata.next_cursor`; the bot must be a member of the channel (`not_in_channel`),
and it needs a channel id (`channel_not_found` for a name). `on_post`, when set, is called with each stored post
before its answer goes out (a test kills the posting worker there: the post landed, the answer never arrived).

Every call is recorded (`standin.calls`, `standin.calls_to("chat.postMessage")`, `standin.response_posts`) so that
tests assert on what was sent over the wire, not on our own functions.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from govern.integrations.slack.signing import signed_headers

RESPONSE_URL_TTL_SECONDS = 30 * 60
RESPONSE_URL_MAX_POSTS = 5
TRIGGER_TTL_SECONDS = 3.0

BLOCK_TYPES = {"section", "actions", "context", "divider", "header", "input", "image", "rich_text", "file", "video"}
TEXT_TYPES = {"plain_text", "mrkdwn"}


@dataclass
class Call:
    """One Web API call as the stand-in received it."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int
    response: dict[str, Any]
    at: float = field(default_factory=time.time)


@dataclass
class ResponseUrlPost:
    """One post to a response_url."""

    url: str
    body: dict[str, Any]
    status: int
    at: float = field(default_factory=time.time)


@dataclass
class _ResponseUrl:
    url: str
    issued_at: float
    channel_id: str | None
    user_id: str | None
    uses: int = 0


class _QuietHandler(WSGIRequestHandler):
    """No access log lines: tests and benchmarks read the recorded calls instead."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SlackApiFault(Exception):
    """Raised inside a handler to answer `ok: false` with a Slack error code."""

    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


class SlackStandin:
    """The Slack Web API on a free loopback port. Use as a context manager or call start()/stop()."""

    def __init__(self, *, token: str = "xoxb-standin-token", team_id: str = "T0STANDIN",
                 team: str = "Standin Workspace", bot_user_id: str = "U0GOVERNBOT", bot_id: str = "B0GOVERN",
                 app_id: str = "A0GOVERN", trigger_ttl: float = TRIGGER_TTL_SECONDS,
                 response_url_ttl: float = RESPONSE_URL_TTL_SECONDS):
        self.token = token
        self.tokens = {token}
        self.team_id, self.team, self.bot_user_id, self.bot_id, self.app_id = team_id, team, bot_user_id, bot_id, app_id
        self.trigger_ttl = trigger_ttl
        self.response_url_ttl = response_url_ttl
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.response_posts: list[ResponseUrlPost] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._triggers: dict[str, float] = {}
        self._faults: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.on_post = None  # callable(channel_id, message) run after a post is stored, before it is answered
        self._lock = threading.RLock()
        self._server = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    def reset(self) -> None:
        """Forget the workspace, the recorded traffic and the faults (a running stand-in reused between tests)."""
        with self._lock:
            self.tokens = {self.token}
            self.trigger_ttl = TRIGGER_TTL_SECONDS
            self.response_url_ttl = RESPONSE_URL_TTL_SECONDS
            for store in (self.users, self.channels, self.messages, self.views, self._response_urls, self._triggers):
                store.clear()
            for log in (self.ephemeral, self.calls, self.response_posts, self._faults):
                log.clear()
            self.on_post = None

    # --- the workspace ---------------------------------------------------------------------------------------------

    def add_user(self, email: str | None, name: str, *, user_id: str | None = None, real_name: str | None = None,
                 is_bot: bool = False, deleted: bool = False) -> str:
        """Add a member of the workspace; returns its user id (U…)."""
        user_id = user_id or f"U{next(self._ids):08d}"
        profile = {"real_name": real_name or name, "display_name": name, "email": email}
        with self._lock:
            self.users[user_id] = {
                "id": user_id, "team_id": self.team_id, "name": name, "deleted": deleted,
                "real_name": real_name or name, "tz": "Europe/Amsterdam", "is_bot": is_bot,
                "is_admin": False, "is_app_user": False, "profile": profile,
            }
        return user_id

    def add_channel(self, name: str, *, channel_id: str | None = None, members: tuple[str, ...] = (),
                    is_private: bool = False, bot_is_member: bool = True) -> str:
        """Add a channel; returns its id (C…, G… when private). The bot may post to public channels it has not
        joined (chat:write.public) but not to private ones (`not_in_channel`)."""
        channel_id = channel_id or f"{'G' if is_private else 'C'}{next(self._ids):08d}"
        with self._lock:
            self.channels[channel_id] = {"id": channel_id, "name": name.lstrip("#"), "is_private": is_private,
                                         "members": set(members) | ({self.bot_user_id} if bot_is_member else set())}
            self.messages.setdefault(channel_id, [])
        return channel_id

    def post_as_user(self, channel_id: str, user_id: str, text: str) -> str:
        """A message someone wrote in a channel (what a message shortcut is used on); returns its ts."""
        with self._lock:
            ts = self._new_ts()
            self.messages[channel_id].append({"type": "message", "user": user_id, "text": text, "ts": ts,
                                              "team": self.team_id})
            return ts

    def channel_id(self, name: str) -> str:
        name = name.lstrip("#")
        for channel in self.channels.values():
            if channel["name"] == name:
                return channel["id"]
        raise KeyError(name)

    # --- fault knobs -------------------------------------------------------------------------------------------------

    def rate_limit(self, method: str = "*", *, times: int = 1, retry_after: int = 1, after: int = 0) -> None:
        """Answer `times` calls of `method` ("*": any) with HTTP 429, `Retry-After` and `ratelimited`, once `after`
        calls have gone through normally."""
        with self._lock:
            self._faults.append({"method": method, "times": times, "status": 429, "retry_after": retry_after,
                                 "after": after})

    def fail(self, method: str = "*", *, times: int = 1, status: int = 503) -> None:
        """Answer the next `times` calls of `method` with a server error."""
        with self._lock:
            self._faults.append({"method": method, "times": times, "status": status, "retry_after": None})

    def revoke(self, token: str) -> None:
        """Make `token` invalid (answers `invalid_auth`)."""
        with self._lock:
            self.tokens.discard(token)

    # --- what Slack hands out with each request ----------------------------------------------------------------------

    def new_response_url(self, *, channel_id: str | None = None, user_id: str | None = None) -> str:
        """A fresh response_url pointing at this stand-in (valid for 30 minutes, at most 5 posts)."""
        url = f"{self.url}/hooks/{self.team_id}/{secrets.token_hex(12)}"
        with self._lock:
            self._response_urls[url] = _ResponseUrl(url, time.time(), channel_id, user_id)
        return url

    def expire_response_url(self, url: str) -> None:
        with self._lock:
            self._response_urls[url].issued_at -= self.response_url_ttl + 1

    def new_trigger_id(self) -> str:
        trigger_id = f"{next(self._ids)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    # --- assertions --------------------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts_to(self, response_url: str) -> list[ResponseUrlPost]:
        with self._lock:
            return [p for p in self.response_posts if p.url == response_url]

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.02):
        """Poll until predicate() is truthy (for work finished in a background thread); returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError("the stand-in did not see the expected Slack traffic in time")
            time.sleep(interval)

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            return next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)

    # --- the server --------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Slack stand-in is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        """What to pass as `WebClient(base_url=…)`; it ends with a slash, as slack_sdk's default does."""
        return f"{self.url}/api/"

    def start(self) -> "SlackStandin":
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "SlackStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- HTTP --------------------------------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("slack_standin")

        @app.route("/api/<method>", methods=["GET", "POST"])
        def api(method: str):
            return self._api(method)

        @app.post("/hooks/<team>/<key>")
        def hook(team: str, key: str):
            return self._response_url_post(request.base_url)

        return app

    def _args(self) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.args.items())
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
            if isinstance(body, dict):
                args.update(body)
        else:
            args.update(request.form.items())
        return args

    def _token(self, args: dict[str, Any]) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):].strip()
        # Slack accepts a token argument in form or query parameters, never inside a JSON body.
        if request.mimetype != "application/json":
            return args.pop("token", None) or None
        return None

    def _take_fault(self, method: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if fault["method"] in ("*", method) and fault["times"] > 0:
                    if fault.get("after", 0) > 0:
                        fault["after"] -= 1
                        continue
                    fault["times"] -= 1
                    return fault
        return None

    def _api(self, method: str) -> Response:
        args = self._args()
        token = self._token(args)
        fault = self._take_fault(method)
        if fault is not None:
            if fault["status"] == 429:
                body = {"ok": False, "error": "ratelimited"}
                response = jsonify(body)
                response.status_code = 429
                response.headers["Retry-After"] = str(fault["retry_after"])
            else:
                body = {"ok": False, "error": "fatal_error"}
                response = jsonify(body)
                response.status_code = fault["status"]
            self._record(method, args, token, response.status_code, body)
            return response
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        try:
            if handler is None:
                raise SlackApiFault("unknown_method", req_method=method)
            if not token:
                raise SlackApiFault("not_authed")
            if token not in self.tokens:
                raise SlackApiFault("invalid_auth")
            with self._lock:
                body = {"ok": True, **handler(args)}
        except SlackApiFault as fault_:
            body = {"ok": False, "error": fault_.error, **fault_.extra}
        status = 404 if body.get("error") == "unknown_method" else 200
        self._record(method, args, token, status, body)
        response = jsonify(body)
        response.status_code = status
        return response

    def _record(self, method, args, token, status, body) -> None:
        with self._lock:
            self.calls.append(Call(method, args, token, status, body))

    # --- methods -----------------------------------------------------------------------------------------------------

    def _m_auth_test(self, args):
        return {"url": f"https://{self.team.lower().replace(' ', '-')}.slack.com/", "team": self.team,
                "user": "govern", "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _resolve_channel(self, channel: str | None) -> str:
        if not channel:
            raise SlackApiFault("channel_not_found")
        if channel in self.channels:
            return channel
        if channel in self.users:  # a user id: post into the bot's direct message with that user
            dm = "D" + channel[1:]
            if dm not in self.channels:
                self.channels[dm] = {"id": dm, "name": channel, "is_private": True, "is_im": True,
                                     "members": {channel, self.bot_user_id}}
                self.messages[dm] = []
            return dm
        name = channel.lstrip("#")
        for candidate in self.channels.values():
            if candidate["name"] == name and not candidate.get("is_im"):
                return candidate["id"]
        raise SlackApiFault("channel_not_found")

    def _message_content(self, args) -> dict[str, Any]:
        blocks = _json_arg(args.get("blocks"), "invalid_blocks_format")
        attachments = _json_arg(args.get("attachments"), "invalid_attachments")
        text = args.get("text")
        if not text and not blocks and not attachments:
            raise SlackApiFault("no_text")
        if blocks is not None:
            _validate_blocks(blocks, limit=50)
        content: dict[str, Any] = {"text": text or ""}
        if blocks is not None:
            content["blocks"] = blocks
        if attachments is not None:
            content["attachments"] = attachments
        return content

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    def _require_bot_access(self, channel_id: str) -> None:
        channel = self.channels[channel_id]
        if channel["is_private"] and self.bot_user_id not in channel["members"]:
            raise SlackApiFault("not_in_channel")

    def _m_chat_postMessage(self, args):
        channel_id = self._resolve_channel(args.get("channel"))
        self._require_bot_access(channel_id)
        content = self._message_content(args)
        ts = self._new_ts()
        message = {"type": "message", "subtype": "bot_message", "user": self.bot_user_id, "bot_id": self.bot_id,
                   "app_id": self.app_id, "team": self.team_id, "ts": ts, **content}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if args.get("metadata") not in (None, ""):
            metadata = _json_arg(args["metadata"], "invalid_metadata_format")
            if (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)
                    or not metadata["event_type"] or not isinstance(metadata.get("event_payload"), dict)):
                raise SlackApiFault("invalid_metadata_format")
            message["metadata"] = {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
        self.messages[channel_id].append(message)
        if self.on_post is not None:
            self.on_post(channel_id, dict(message))
        return {"channel": channel_id, "ts": ts, "message": dict(message)}

    def _m_conversations_history(self, args):
        channel_id = args.get("channel")
        if channel_id not in self.channels:
            raise SlackApiFault("channel_not_found")
        channel = self.channels[channel_id]
        if self.bot_user_id not in channel["members"]:
            raise SlackApiFault("not_in_channel")
        limit = min(int(args.get("limit") or 100), 999)
        inclusive = _flag(args.get("inclusive"))
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        with_metadata = _flag(args.get("include_all_metadata"))
        window = [m for m in reversed(self.messages.get(channel_id, []))
                  if (oldest <= float(m["ts"]) if inclusive else oldest < float(m["ts"]))
                  and (float(m["ts"]) <= latest if inclusive else float(m["ts"]) < latest)]
        start = int(base64.urlsafe_b64decode(args["cursor"]).decode()) if args.get("cursor") else 0
        page = window[start:start + limit]
        more = start + limit < len(window)
        messages = [dict(m) if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        return {"messages": messages, "has_more": more, "pin_count": 0,
                "response_metadata": {"next_cursor": base64.urlsafe_b64encode(str(start + limit).encode()).decode()
                                      if more else ""}}

    def _m_conversations_list(self, args):
        types = set((args.get("types") or "public_channel").split(","))
        limit = min(int(args.get("limit") or 100), 1000)
        wanted = [c for c in self.channels.values() if not c.get("is_im")
                  and (("private_channel" in types) if c["is_private"] else ("public_channel" in types))]
        start = int(base64.urlsafe_b64decode(args["cursor"]).decode()) if args.get("cursor") else 0
        page = wanted[start:start + limit]
        more = start + limit < len(wanted)
        return {"channels": [{"id": c["id"], "name": c["name"], "is_channel": not c["is_private"],
                              "is_group": c["is_private"], "is_im": False, "is_private": c["is_private"],
                              "is_member": self.bot_user_id in c["members"]} for c in page],
                "response_metadata": {"next_cursor": base64.urlsafe_b64encode(str(start + limit).encode()).decode()
                                      if more else ""}}

    def _m_conversations_open(self, args):
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1 or users[0] not in self.users:
            raise SlackApiFault("user_not_found")
        return {"channel": {"id": self._resolve_channel(users[0])}}

    def _m_chat_postEphemeral(self, args):
        channel_id = self._resolve_channel(args.get("channel"))
        user = args.get("user")
        if not user or user not in self.users:
            raise SlackApiFault("user_not_found")
        if user not in self.channels[channel_id]["members"]:
            raise SlackApiFault("user_not_in_channel")
        content = self._message_content(args)
        ts = self._new_ts()
        self.ephemeral.append({"channel": channel_id, "user": user, "message_ts": ts, **content})
        return {"message_ts": ts}

    def _m_chat_update(self, args):
        channel = args.get("channel")
        if not channel or channel not in self.channels:
            raise SlackApiFault("channel_not_found")
        message = next((m for m in self.messages[channel] if m["ts"] == args.get("ts")), None)
        if message is None:
            raise SlackApiFault("message_not_found")
        if message.get("bot_id") != self.bot_id:
            raise SlackApiFault("cant_update_message")
        content = self._message_content(args)
        message.pop("blocks", None)
        message.update(content)
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": dict(message)}

    def _m_chat_getPermalink(self, args):
        """https://api.slack.com/methods/chat.getPermalink: `channel` and `message_ts` required; the permalink of an
        existing message, else channel_not_found / message_not_found."""
        channel = args.get("channel")
        if not channel or channel not in self.channels:
            raise SlackApiFault("channel_not_found")
        ts = args.get("message_ts")
        if not ts or not any(m["ts"] == ts for m in self.messages[channel]):
            raise SlackApiFault("message_not_found")
        domain = self.team.lower().replace(" ", "-")
        return {"channel": channel, "permalink": f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _m_users_info(self, args):
        user = self.users.get((args.get("user") or "").strip())
        if user is None:
            raise SlackApiFault("user_not_found")
        return {"user": user | {"profile": dict(user["profile"])}}

    def _m_users_list(self, args):
        """Every member, deactivated ones included (`deleted: true`), paged by `cursor`/`limit` (Slack: ≤ 1000)."""
        try:
            limit = int(args.get("limit") or 0)
        except (TypeError, ValueError):
            raise SlackApiFault("invalid_limit") from None
        members = sorted(self.users.values(), key=lambda u: u["id"])
        start = 0
        cursor = args.get("cursor") or ""
        if cursor:
            try:
                start = int(base64.b64decode(cursor.encode()).decode().removeprefix("user:"))
            except Exception:  # noqa: BLE001 - any undecodable cursor
                raise SlackApiFault("invalid_cursor") from None
        size = min(limit, 1000) if limit > 0 else len(members)
        page = members[start:start + size]
        end = start + len(page)
        next_cursor = base64.b64encode(f"user:{end}".encode()).decode() if end < len(members) else ""
        return {"members": [u | {"profile": dict(u["profile"])} for u in page], "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _m_users_lookupByEmail(self, args):
        email = (args.get("email") or "").strip()
        if not email:
            raise SlackApiFault("invalid_arguments")
        for user in self.users.values():
            if (user["profile"].get("email") or "").lower() == email.lower() and not user["deleted"]:
                return {"user": user | {"profile": dict(user["profile"])}}
        raise SlackApiFault("users_not_found")

    def _m_views_open(self, args):
        trigger_id = args.get("trigger_id")
        issued = self._triggers.get(trigger_id or "")
        if issued is None:
            raise SlackApiFault("invalid_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise SlackApiFault("expired_trigger_id")
        view = _json_arg(args.get("view"), "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackApiFault("invalid_arguments")
        title = view.get("title") or {}
        if title.get("type") != "plain_text" or not title.get("text") or len(title["text"]) > 24:
            raise SlackApiFault("invalid_arguments", response_metadata={"messages": ["[ERROR] invalid title"]})
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise SlackApiFault("invalid_arguments")
        _validate_blocks(blocks, limit=100)
        if any(b.get("type") == "input" for b in blocks) and not view.get("submit"):
            raise SlackApiFault("invalid_arguments",
                                response_metadata={"messages": ["[ERROR] submit is required with input blocks"]})
        del self._triggers[trigger_id]
        view_id = f"V{next(self._ids):08d}"
        stored = {
            "id": view_id, "team_id": self.team_id, "type": "modal", "title": title, "blocks": blocks,
            "close": view.get("close"), "submit": view.get("submit"),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": secrets.token_hex(8), "clear_on_close": False,
            "notify_on_close": False, "root_view_id": view_id, "previous_view_id": None,
            "app_id": self.app_id, "external_id": view.get("external_id", ""), "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return {"view": stored}

    def _m_views_update(self, args):
        """https://api.slack.com/methods/views.update: the view by `view_id` (or `external_id`), replaced by `view`;
        a `hash` that is not the view's current one is `hash_conflict` (someone changed it meanwhile)."""
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next((v["id"] for v in self.views.values() if v.get("external_id") == args["external_id"]), None)
        if not view_id:
            raise SlackApiFault("invalid_arguments")
        stored = self.views.get(view_id)
        if stored is None:
            raise SlackApiFault("not_found")
        if args.get("hash") and args["hash"] != stored["hash"]:
            raise SlackApiFault("hash_conflict")
        view = _json_arg(args.get("view"), "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackApiFault("invalid_arguments")
        title = view.get("title") or {}
        if title.get("type") != "plain_text" or not title.get("text") or len(title["text"]) > 24:
            raise SlackApiFault("invalid_arguments", response_metadata={"messages": ["[ERROR] invalid title"]})
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise SlackApiFault("invalid_arguments")
        _validate_blocks(blocks, limit=100)
        stored.update({"title": title, "blocks": blocks, "close": view.get("close"), "submit": view.get("submit"),
                       "private_metadata": view.get("private_metadata", ""),
                       "callback_id": view.get("callback_id", ""), "hash": secrets.token_hex(8),
                       "previous_view_id": None})
        return {"view": stored}

    # --- response_url ------------------------------------------------------------------------------------------------

    def _response_url_post(self, url: str):
        body = request.get_json(silent=True)
        with self._lock:
            registered = self._response_urls.get(url)
            if registered is None:
                status, answer = 404, {"ok": False, "error": "no_service"}
            elif time.time() - registered.issued_at > self.response_url_ttl:
                status, answer = 404, {"ok": False, "error": "expired_url"}
            elif registered.uses >= RESPONSE_URL_MAX_POSTS:
                status, answer = 404, {"ok": False, "error": "used_url"}
            elif not isinstance(body, dict):
                status, answer = 400, {"ok": False, "error": "invalid_payload"}
            elif not (body.get("text") or body.get("blocks") or body.get("delete_original")):
                status, answer = 400, {"ok": False, "error": "no_text"}
            else:
                try:
                    if body.get("blocks") is not None:
                        _validate_blocks(body["blocks"], limit=50)
                    registered.uses += 1
                    status, answer = 200, {"ok": True}
                except SlackApiFault as fault:
                    status, answer = 400, {"ok": False, "error": fault.error}
            self.response_posts.append(ResponseUrlPost(url, body if isinstance(body, dict) else {}, status))
        response = jsonify(answer)
        response.status_code = status
        return response


# --- Block Kit checks (the limits Slack enforces, so that our builders cannot drift from them) ----------------------


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _json_arg(value: Any, error: str) -> Any:
    if value is None or isinstance(value, (list, dict)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        raise SlackApiFault(error) from None


def _text_ok(obj: Any, *, max_len: int, plain_only: bool = False) -> bool:
    return (isinstance(obj, dict) and obj.get("type") in ({"plain_text"} if plain_only else TEXT_TYPES)
            and isinstance(obj.get("text"), str) and 0 < len(obj["text"]) <= max_len)


def _validate_blocks(blocks: Any, *, limit: int) -> None:
    def bad(why: str):
        raise SlackApiFault("invalid_blocks", response_metadata={"messages": [f"[ERROR] {why}"]})

    if not isinstance(blocks, list) or len(blocks) > limit:
        bad(f"must be a list of at most {limit} blocks")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            bad(f"blocks[{i}]: unknown block type")
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255 or block_id in seen_ids:
                bad(f"blocks[{i}].block_id: must be unique and at most 255 characters")
            seen_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                bad(f"blocks[{i}]: a section needs text or fields")
            if "text" in block and not _text_ok(block["text"], max_len=3000):
                bad(f"blocks[{i}].text: must be a text object of 1-3000 characters")
            for j, f in enumerate(block.get("fields", [])):
                if not _text_ok(f, max_len=2000):
                    bad(f"blocks[{i}].fields[{j}]: must be a text object of 1-2000 characters")
            if len(block.get("fields", [])) > 10:
                bad(f"blocks[{i}].fields: at most 10")
        elif kind == "header":
            if not _text_ok(block.get("text"), max_len=150, plain_only=True):
                bad(f"blocks[{i}].text: a header needs plain_text of 1-150 characters")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                bad(f"blocks[{i}].elements: 1-10 elements")
            for j, e in enumerate(elements):
                if e.get("type") != "image" and not _text_ok(e, max_len=3000):
                    bad(f"blocks[{i}].elements[{j}]: must be a text object")
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 25:
                bad(f"blocks[{i}].elements: 1-25 elements")
            for j, e in enumerate(elements):
                if e.get("type") == "button":
                    if not _text_ok(e.get("text"), max_len=75, plain_only=True):
                        bad(f"blocks[{i}].elements[{j}].text: plain_text of 1-75 characters")
                    if len(str(e.get("value", ""))) > 2000 or len(str(e.get("action_id", ""))) > 255:
                        bad(f"blocks[{i}].elements[{j}]: value or action_id too long")
                    if e.get("style") not in (None, "primary", "danger"):
                        bad(f"blocks[{i}].elements[{j}].style: primary or danger")
        elif kind == "input":
            if not _text_ok(block.get("label"), max_len=2000, plain_only=True) or not isinstance(
                    block.get("element"), dict):
                bad(f"blocks[{i}]: an input needs a plain_text label and an element")
            element = block["element"]
            if element.get("type") in ("static_select", "multi_static_select"):
                # https://api.slack.com/reference/block-kit/block-elements#select: options or option_groups, at most
                # 100 in all; an option's text is plain_text of at most 75 characters, its value at most 150
                groups = element.get("option_groups")
                options = element.get("options")
                if (groups is None) == (options is None):
                    bad(f"blocks[{i}].element: exactly one of options or option_groups")
                every = options if options is not None else [o for g in groups for o in g.get("options", [])]
                if groups is not None and (len(groups) > 100 or any(
                        not _text_ok(g.get("label"), max_len=75, plain_only=True) for g in groups)):
                    bad(f"blocks[{i}].element.option_groups: at most 100, each with a plain_text label of 1-75")
                if not every or len(every) > 100:
                    bad(f"blocks[{i}].element: 1-100 options")
                for j, o in enumerate(every):
                    if not _text_ok(o.get("text"), max_len=75, plain_only=True) or not (
                            isinstance(o.get("value"), str) and 0 < len(o["value"]) <= 150):
                        bad(f"blocks[{i}].element.options[{j}]: plain_text of 1-75 characters, value of 1-150")


# --- Slack's side: building and signing the requests Slack sends to an app ------------------------------------------


class SlackSide:
    """Builds slash commands and interaction payloads as Slack sends them, signed with the app's signing secret.

    Each request carries a fresh response_url and trigger_id issued by `standin`, so follow-ups land in the stand-in.
    `post(target, path, body, headers)` sends it either to a Flask test client or over HTTP to a base URL.
    """

    def __init__(self, standin: SlackStandin, signing_secret: str, *, command: str = "/journey",
                 channel_id: str | None = None):
        self.standin = standin
        self.signing_secret = signing_secret
        self.command_name = command
        self.channel_id = channel_id

    def command_body(self, text: str, *, user_id: str, channel_id: str | None = None,
                     command: str | None = None) -> tuple[bytes, str, str]:
        """(form-encoded body, response_url, trigger_id) of a slash command invocation."""
        channel_id = channel_id or self.channel_id or "C0GENERAL"
        user = self.standin.users.get(user_id, {"name": user_id})
        response_url = self.standin.new_response_url(channel_id=channel_id, user_id=user_id)
        trigger_id = self.standin.new_trigger_id()
        channel = self.standin.channels.get(channel_id, {"name": "general"})
        fields = {
            "token": "deprecated-verification-token", "team_id": self.standin.team_id,
            "team_domain": "standin", "channel_id": channel_id, "channel_name": channel["name"],
            "user_id": user_id, "user_name": user["name"], "command": command or self.command_name,
            "text": text, "api_app_id": self.standin.app_id, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": trigger_id,
        }
        return urllib.parse.urlencode(fields).encode(), response_url, trigger_id

    def block_action_body(self, *, user_id: str, channel_id: str, message_ts: str, action_id: str, value: str,
                          block_id: str = "actions") -> tuple[bytes, str, str]:
        """(form-encoded body, response_url, trigger_id) of a button press on a message the app posted."""
        message = self.standin.message(channel_id, message_ts) or {"ts": message_ts, "type": "message"}
        response_url = self.standin.new_response_url(channel_id=channel_id, user_id=user_id)
        trigger_id = self.standin.new_trigger_id()
        user = self.standin.users.get(user_id, {"name": user_id})
        button_text = "Button"
        for block in message.get("blocks", []):
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    button_text, block_id = element["text"]["text"], block.get("block_id", block_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": self.standin.team_id},
            "api_app_id": self.standin.app_id, "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                          "is_ephemeral": False},
            "trigger_id": trigger_id,
            "team": {"id": self.standin.team_id, "domain": "standin"},
            "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": self.standin.channels.get(channel_id, {}).get("name", "")},
            "message": message,
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [{
                "action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "action_ts": f"{time.time():.6f}",
            }],
        }
        return self._payload_body(payload), response_url, trigger_id

    def message_shortcut_body(self, *, user_id: str, channel_id: str, message_ts: str,
                              callback_id: str) -> tuple[bytes, str, str]:
        """(form-encoded body, response_url, trigger_id) of a message shortcut ("message_action") used on a message,
        as https://api.slack.com/reference/interaction-payloads/shortcuts describes it."""
        message = self.standin.message(channel_id, message_ts) or {"ts": message_ts, "type": "message", "text": ""}
        response_url = self.standin.new_response_url(channel_id=channel_id, user_id=user_id)
        trigger_id = self.standin.new_trigger_id()
        user = self.standin.users.get(user_id, {"name": user_id})
        payload = {
            "type": "message_action", "callback_id": callback_id, "trigger_id": trigger_id,
            "action_ts": f"{time.time():.6f}", "message_ts": message_ts,
            "team": {"id": self.standin.team_id, "domain": "standin"},
            "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": self.standin.team_id},
            "channel": {"id": channel_id, "name": self.standin.channels.get(channel_id, {}).get("name", "")},
            "message": dict(message), "response_url": response_url,
            "token": "deprecated-verification-token", "is_enterprise_install": False, "enterprise": None,
        }
        return self._payload_body(payload), response_url, trigger_id

    def shortcut(self, target: Any, *, user_id: str, channel_id: str, message_ts: str, callback_id: str,
                 path: str = "/slack/interactions"):
        body, response_url, trigger_id = self.message_shortcut_body(
            user_id=user_id, channel_id=channel_id, message_ts=message_ts, callback_id=callback_id)
        status, data = self.post(target, path, body)
        return status, data, response_url

    def view_submission_body(self, *, user_id: str, view_id: str, values: dict[str, dict[str, str]]) -> bytes:
        """Form-encoded body of a modal submission; `values` maps block_id -> action_id -> typed text."""
        view = dict(self.standin.views[view_id])
        view["state"] = {"values": {
            block_id: {action_id: self._input_state(view, block_id, answer) for action_id, answer in actions.items()}
            for block_id, actions in values.items()
        }}
        user = self.standin.users.get(user_id, {"name": user_id})
        payload = {
            "type": "view_submission",
            "team": {"id": self.standin.team_id, "domain": "standin"},
            "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": self.standin.team_id},
            "api_app_id": self.standin.app_id, "token": "deprecated-verification-token",
            "trigger_id": self.standin.new_trigger_id(), "view": view, "response_urls": [],
            "is_enterprise_install": False, "enterprise": None,
        }
        return self._payload_body(payload)

    @staticmethod
    def _input_state(view: dict[str, Any], block_id: str, answer: Any) -> dict[str, Any]:
        """The state Slack reports for one input: typed text for a plain_text_input; for a static_select or a
        multi_static_select, the chosen option objects (looked up by value among the element's options)."""
        element = next((b.get("element") or {} for b in view.get("blocks", []) if b.get("block_id") == block_id), {})
        kind = element.get("type", "plain_text_input")
        if kind not in ("static_select", "multi_static_select"):
            return {"type": "plain_text_input", "value": answer}
        options = [o for o in element.get("options", [])]
        options += [o for group in element.get("option_groups", []) for o in group.get("options", [])]
        by_value = {o["value"]: o for o in options}
        chosen = [by_value[v] for v in ([answer] if isinstance(answer, str) else answer) if v in by_value]
        if kind == "static_select":
            return {"type": kind, "selected_option": chosen[0] if chosen else None}
        return {"type": kind, "selected_options": chosen}

    @staticmethod
    def _payload_body(payload: dict[str, Any]) -> bytes:
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        return signed_headers(self.signing_secret, body, timestamp=timestamp)

    def post(self, target: Any, path: str, body: bytes, headers: dict[str, str] | None = None):
        """POST a signed request to a Flask test client, or to a base URL over HTTP. Returns (status, json or text)."""
        headers = headers if headers is not None else self.headers(body)
        if hasattr(target, "post") and not isinstance(target, str):
            response = target.post(path, data=body, headers=headers)
            data = response.get_json(silent=True)
            return response.status_code, data if data is not None else response.get_data(as_text=True)
        import requests  # only for the HTTP path (bench, multi-process tests)

        response = requests.post(target.rstrip("/") + path, data=body, headers=headers, timeout=10)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    # Shortcuts that sign and post in one go.

    def command(self, target: Any, text: str, *, user_id: str, path: str = "/slack/commands", **kw):
        body, response_url, _ = self.command_body(text, user_id=user_id, **kw)
        status, data = self.post(target, path, body)
        return status, data, response_url

    def press(self, target: Any, *, user_id: str, channel_id: str, message_ts: str, action_id: str, value: str,
              path: str = "/slack/interactions"):
        body, response_url, trigger_id = self.block_action_body(
            user_id=user_id, channel_id=channel_id, message_ts=message_ts, action_id=action_id, value=value)
        status, data = self.post(target, path, body)
        return status, data, response_url

    def submit(self, target: Any, *, user_id: str, view_id: str, values: dict[str, dict[str, str]],
               path: str = "/slack/interactions"):
        body = self.view_submission_body(user_id=user_id, view_id=view_id, values=values)
        return self.post(target, path, body)
