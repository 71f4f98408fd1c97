"""Lifecycle definitions: load a YAML definition (shipped by name or from a file) and validate all of it at once.

Every problem names its place (`transitions[3].dest: unknown state 'prioritze' (did you mean 'prioritise'?)`) and all
problems are reported together in one `InvalidInput`, whose `details` map each path to its message.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping


from govern.errors import InvalidInput
from govern.queries.states import FINAL, MEASURE_AFTER_DAYS, STATE_KINDS, STATE_WORK, state_kind, state_title
from govern.yamltext import load_yaml, read_text_file
from govern.workflows import approvals, guards
from govern.workflows.effects import Effect, parse_effect

TOP_KEYS = ("name", "title", "description", "initial", "final", "states", "transitions", "checks", "measure_after_days")
CHECK_KEYS = ("title", "description", "tickers", "link")
LINK_RULES = ("optional", "required", "none")
TRANSITION_KEYS = ("trigger", "source", "dest", "guards", "requires_reason", "approval", "effects", "auto",
                   "description", "requesters", "title")
STATE_KEYS = ("description", "kind", "title", "allows")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class StateDef:
    """A state: what happens in it, what it is (`kind`, see govern.queries.states.STATE_KINDS) and what people
    call it (`title`)."""

    name: str
    description: str
    final: bool = False
    kind: str = "active"
    title: str = ""


@dataclass(frozen=True)
class CheckDef:
    """A checklist guard: a named check people tick ("clinical safety case attached"), declared under `checks:`.

    `tickers` are role keys and `person:handle` entries (like a transition's requesters); `link` says whether a
    ticked check carries a link to its evidence (a document, a ticket): optional, required or none."""

    key: str
    title: str
    description: str
    tickers: tuple[str, ...]
    link: str = "optional"

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.key, "title": self.title, "description": self.description,
                "tickers": list(self.tickers), "link_rule": self.link}


@dataclass(frozen=True)
class GuardRef:
    """A guard as a transition names it, with its parameters (defaults filled in)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # What the organisation calls it (`{has_evidence: {min: 3, title: three voices heard}}`); without one, the
    # guard's readable default with its parameters counted.
    title: str = ""

    def label(self, words=None) -> str:
        """What people read for it: the declared title, or the default title with the parameters counted (`at least
        2 pieces of evidence`)."""
        if self.title:
            return words.fill(self.title) if words is not None else self.title
        spec = guards.GUARDS[self.name]
        return spec.titled(self.params, words) if words is not None else spec.titled(self.params)

    def identifier(self) -> str:
        """The guard as govern.yaml writes it (`has_evidence ≥ 2`), for the CLI's `workflows check`."""
        return guards.GUARDS[self.name].label(self.params)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "params": dict(self.params)}
        if self.title:
            out["title"] = self.title
        return out


@dataclass(frozen=True)
class TransitionDef:
    index: int
    trigger: str
    sources: tuple[str, ...]
    dest: str
    guards: tuple[GuardRef, ...] = ()
    requires_reason: bool = False
    approval: Mapping[str, Any] | None = None
    effects: tuple[Effect, ...] = ()
    auto: bool = False
    description: str = ""
    # Who may request it, when the lifecycle limits that: role keys and `person:handle` entries (empty: anyone the
    # permission table lets request transitions).
    requesters: tuple[str, ...] = ()
    # What people call it ("Request safety review"); without one, the trigger in words.
    title: str = ""

    @property
    def display_title(self) -> str:
        return self.title or self.trigger.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Definition:
    name: str
    title: str
    description: str
    initial: str
    final: tuple[str, ...]
    states: Mapping[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    raw: Mapping[str, Any]
    digest: str  # sha256 of the canonical definition: the cache key of its shared machine
    checks: Mapping[str, CheckDef] = field(default_factory=dict)
    # Days after go-live before a KPI measurement counts in evaluate (govern.kpis: the measurement window).
    measure_after_days: int = MEASURE_AFTER_DAYS

    def transitions_from(self, state: str) -> list[TransitionDef]:
        return [t for t in self.transitions if state in t.sources]

    def backlog_states(self) -> dict[str, str | None]:
        """The states in which an opportunity's solutions belong in the backlog: those entered by a transition whose
        effects create backlog items (what the definition says the state means, whatever it is called), with the
        issue type that effect names (None: the Jira mapping's)."""
        states: dict[str, str | None] = {}
        for t in self.transitions:
            for effect in t.effects:
                if effect.name == "create_backlog_items":
                    states.setdefault(t.dest, effect.params.get("issue_type"))
        return states


def shipped_names() -> list[str]:
    """Names of the definitions shipped with govern (package data)."""
    folder = resources.files("govern.workflows") / "definitions"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_source(name_or_path: str | Path) -> tuple[Mapping[str, Any], str]:
    """The parsed YAML of a shipped definition (by name) or of a file; (data, where it came from)."""
    text_path = str(name_or_path)
    path = Path(text_path)
    if text_path.endswith((".yaml", ".yml")) or path.exists() or "/" in text_path:
        if not path.is_file():
            raise InvalidInput(f"no lifecycle definition file at {text_path}", {"file": "not found"})
        text, origin = read_text_file(path), str(path)
    else:
        names = shipped_names()
        if text_path not in names:
            raise InvalidInput(f"unknown lifecycle {text_path!r} (shipped: {', '.join(names)}; or give a file path)",
                               {"lifecycle": f"unknown lifecycle {text_path!r}"})
        text = (resources.files("govern.workflows") / "definitions" / f"{text_path}.yaml").read_text(encoding="utf-8")
        origin = f"{text_path} (shipped)"
    try:
        data = load_yaml(text, origin)
    except InvalidInput as err:
        (where, problem), = (err.details or {"(file)": err.message}).items()
        raise InvalidInput(err.message, {"file": f"{where}: {problem}"}) from None
    return data, origin


def load_definition(name_or_path: str | Path) -> Definition:
    """Load and validate a definition by shipped name (`default`, `triple_diamond`) or file path."""
    data, origin = read_source(name_or_path)
    return parse_definition(data, origin)


def digest_of(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _suggest(word: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_definition(data: Any, origin: str = "definition") -> Definition:
    """Validate a definition's data; raise InvalidInput listing every problem by path, or return the Definition."""
    problems: dict[str, str] = {}
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{origin}: a lifecycle definition is a mapping", {"": "expected a mapping at the top"})

    for key in data:
        if key not in TOP_KEYS:
            problems[str(key)] = f"unknown key{_suggest(key, list(TOP_KEYS))} (allowed: {', '.join(TOP_KEYS)})"

    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems["name"] = f"is required: lower-case letters, digits and _ (got {name!r})"
    for key in ("title", "description"):
        if key in data and not isinstance(data[key], str):
            problems[key] = "must be text"
    measure_after = data.get("measure_after_days", MEASURE_AFTER_DAYS)
    if isinstance(measure_after, bool) or not isinstance(measure_after, int) or measure_after < 0:
        problems["measure_after_days"] = f"must be a whole number of days ≥ 0, got {measure_after!r}"
        measure_after = MEASURE_AFTER_DAYS

    # States.
    raw_states = data.get("states")
    states: dict[str, StateDef] = {}
    if not isinstance(raw_states, Mapping) or not raw_states:
        problems["states"] = "is required: a mapping of state name to {description}"
        raw_states = {}
    raw_final = data.get("final")
    final_list: list[str] = []
    declared_final = [n for n, b in raw_states.items() if isinstance(b, Mapping) and b.get("kind") == FINAL]
    if raw_final is None and declared_final:
        final_list = [str(n) for n in declared_final]  # `final` may be left out when the states say it
    elif raw_final is None:
        problems["final"] = "is required: the list of final states (or give final states `kind: final`)"
    elif isinstance(raw_final, str):
        final_list = [raw_final]
    elif isinstance(raw_final, list) and all(isinstance(s, str) for s in raw_final):
        final_list = list(raw_final)
    else:
        problems["final"] = "must be a state name or a list of state names"
    for sname, sbody in raw_states.items():
        path = f"states.{sname}"
        if not isinstance(sname, str) or not NAME_RE.match(sname):
            problems[path] = "a state name is lower-case letters, digits and _"
            continue
        if sbody is None:
            sbody = {}
        if not isinstance(sbody, Mapping):
            problems[path] = "must be a mapping with a description"
            continue
        for key in sbody:
            if key not in STATE_KEYS:
                problems[f"{path}.{key}"] = f"unknown key (allowed: {', '.join(STATE_KEYS)})"
        description = sbody.get("description")
        if not isinstance(description, str) or not description.strip():
            problems[f"{path}.description"] = "is required: say in plain words what happens in this state"
            description = ""
        kind = sbody.get("kind")
        if kind is not None and kind not in STATE_KINDS:
            problems[f"{path}.kind"] = (f"unknown kind {kind!r}{_suggest(kind, list(STATE_KINDS))} "
                                        f"(one of: {', '.join(STATE_KINDS)})")
        elif kind == FINAL and sname not in final_list:
            problems[f"{path}.kind"] = "is final, but the state is not listed under `final`"
        elif kind is not None and kind != FINAL and sname in final_list:
            problems[f"{path}.kind"] = f"is {kind}, but the state is listed under `final` (a final state is kind final)"
        title = sbody.get("title")
        if title is not None and (not isinstance(title, str) or not title.strip()):
            problems[f"{path}.title"] = "must be text: what people call this state"
        allows = sbody.get("allows")
        if allows is not None and (not isinstance(allows, list)
                                   or any(w not in STATE_WORK for w in allows)):
            problems[f"{path}.allows"] = f"must be a list of: {', '.join(STATE_WORK)}"
        states[sname] = StateDef(sname, description.strip(), sname in final_list,
                                 state_kind(sname, sbody, final_list), state_title(sname, sbody))
    state_names = list(states)

    def check_state(value: Any, path: str) -> bool:
        if not isinstance(value, str):
            problems[path] = f"must be a state name, got {value!r}"
            return False
        if value not in states:
            if raw_states and value not in raw_states:
                problems[path] = f"unknown state {value!r}{_suggest(value, state_names)}"
            return False
        return True

    initial = data.get("initial")
    if initial is None:
        problems["initial"] = "is required: the state every new opportunity starts in"
    else:
        check_state(initial, "initial")
    for i, fname in enumerate(final_list):
        check_state(fname, f"final[{i}]")

    # Checks (checklist guards), before the transitions that name them.
    checks: dict[str, CheckDef] = {}
    raw_checks = data.get("checks") or {}
    if not isinstance(raw_checks, Mapping):
        problems["checks"] = "must be a mapping of check name to {title, description, tickers, link}"
        raw_checks = {}
    for cname, cbody in raw_checks.items():
        cpath = f"checks.{cname}"
        if not isinstance(cname, str) or not NAME_RE.match(cname):
            problems[cpath] = "a check name is lower-case letters, digits and _"
            continue
        if cname in guards.GUARDS:
            problems[cpath] = f"{cname!r} is a built-in guard; give the check another name"
            continue
        if not isinstance(cbody, Mapping):
            problems[cpath] = "must be a mapping with title, description and tickers"
            continue
        for key in cbody:
            if key not in CHECK_KEYS:
                problems[f"{cpath}.{key}"] = f"unknown key (allowed: {', '.join(CHECK_KEYS)})"
        title, cdesc = cbody.get("title"), cbody.get("description", "")
        if not isinstance(title, str) or not title.strip():
            problems[f"{cpath}.title"] = "is required: what is checked, in a few words"
        if not isinstance(cdesc, str):
            problems[f"{cpath}.description"] = "must be text"
        tickers = _people_and_roles(cbody.get("tickers"), f"{cpath}.tickers", problems, required=True)
        link = cbody.get("link", "optional")
        if link not in LINK_RULES:
            problems[f"{cpath}.link"] = f"must be one of {', '.join(LINK_RULES)}, got {link!r}"
        if f"{cpath}.title" not in problems and isinstance(cdesc, str) and link in LINK_RULES:
            checks[cname] = CheckDef(cname, title.strip(), cdesc.strip(), tickers, link)

    # Transitions.
    raw_transitions = data.get("transitions")
    transitions: list[TransitionDef] = []
    seen: dict[tuple[str, str], int] = {}
    leaving: set[str] = set()  # states some transition leaves, even one with other problems (no cascading errors)
    if not isinstance(raw_transitions, list) or not raw_transitions:
        problems["transitions"] = "is required: a list of transitions"
        raw_transitions = []
    for i, body in enumerate(raw_transitions):
        path = f"transitions[{i}]"
        if not isinstance(body, Mapping):
            problems[path] = "must be a mapping with trigger, source and dest"
            continue
        for key in body:
            if key not in TRANSITION_KEYS:
                problems[f"{path}.{key}"] = (f"unknown key{_suggest(key, list(TRANSITION_KEYS))} "
                                             f"(allowed: {', '.join(TRANSITION_KEYS)})")
        trigger = body.get("trigger")
        if not isinstance(trigger, str) or not NAME_RE.match(trigger):
            problems[f"{path}.trigger"] = f"is required: lower-case letters, digits and _ (got {trigger!r})"
            trigger = None
        raw_source = body.get("source")
        sources: list[str] = []
        if raw_source is None:
            problems[f"{path}.source"] = "is required: a state name or a list of state names"
        else:
            listed = raw_source if isinstance(raw_source, list) else [raw_source]
            if not listed:
                problems[f"{path}.source"] = "must name at least one state"
            for j, src in enumerate(listed):
                spath = f"{path}.source" if not isinstance(raw_source, list) else f"{path}.source[{j}]"
                if check_state(src, spath):
                    sources.append(src)
                    leaving.add(src)
        dest = body.get("dest")
        dest_ok = dest is not None and check_state(dest, f"{path}.dest")
        if dest is None:
            problems[f"{path}.dest"] = "is required: the state it leads to"

        guard_refs: list[GuardRef] = []
        raw_guards = body.get("guards") or []
        if not isinstance(raw_guards, list):
            problems[f"{path}.guards"] = "must be a list of guard names or {name: {params}}"
            raw_guards = []
        for j, g in enumerate(raw_guards):
            gpath = f"{path}.guards[{j}]"
            if isinstance(g, str):
                gname, gparams = g, {}
            elif isinstance(g, Mapping) and len(g) == 1:
                (gname, gparams), = g.items()
            else:
                problems[gpath] = f"a guard is a name or a one-key mapping {{name: {{params}}}}, got {g!r}"
                continue
            if gname in checks and not gparams:
                check = checks[gname]
                guard_refs.append(GuardRef(guards.CHECKLIST, {"check": check.key, "title": check.title}))
                continue
            if gname not in guards.GUARDS or gname == guards.CHECKLIST:
                known = [g for g in guards.GUARDS if g != guards.CHECKLIST] + list(checks)
                problems[gpath] = f"unknown guard {gname!r}{_suggest(gname, known)} (or declare it under checks:)"
                continue
            gtitle = ""
            if isinstance(gparams, Mapping) and "title" in gparams:  # what people read; not a check's parameter
                gparams = dict(gparams)
                gtitle = gparams.pop("title")
                if not isinstance(gtitle, str) or not gtitle.strip() or len(gtitle) > 120:
                    problems[f"{gpath}.{gname}.title"] = "must be text of 1 to 120 characters"
                    gtitle = ""
                gtitle = gtitle.strip()
            resolved, gproblems = guards.validate_params(gname, gparams)
            for key, msg in gproblems.items():
                problems[f"{gpath}.{gname}" + (f".{key}" if key else "")] = msg
            if not gproblems:
                guard_refs.append(GuardRef(gname, resolved, gtitle))

        approval = body.get("approval")
        if approval is not None:
            aproblems = approvals.validate_rule(approval, f"{path}.approval")
            problems.update(aproblems)
            if aproblems:
                approval = None

        effects: list[Effect] = []
        raw_effects = body.get("effects") or []
        if not isinstance(raw_effects, list):
            problems[f"{path}.effects"] = "must be a list of effects"
            raw_effects = []
        for j, e in enumerate(raw_effects):
            effect, eproblems = parse_effect(e, f"{path}.effects[{j}]")
            problems.update(eproblems)
            if effect is not None:
                effects.append(effect)

        flags = {}
        for flag in ("requires_reason", "auto"):
            value = body.get(flag, False)
            if not isinstance(value, bool):
                problems[f"{path}.{flag}"] = f"must be true or false, got {value!r}"
                value = False
            flags[flag] = value
        requesters = _people_and_roles(body.get("requesters"), f"{path}.requesters", problems)

        description = body.get("description", "")
        if not isinstance(description, str):
            problems[f"{path}.description"] = "must be text"
            description = ""
        ttitle = body.get("title", "")
        if not isinstance(ttitle, str):
            problems[f"{path}.title"] = "must be text: what people call this transition"
            ttitle = ""

        if trigger:
            for src in sources:
                earlier = seen.get((trigger, src))
                if earlier is not None:
                    problems[f"{path}.trigger"] = (f"duplicate trigger {trigger!r} from state {src!r} "
                                                   f"(already defined by transitions[{earlier}])")
                else:
                    seen[(trigger, src)] = i
        if trigger and sources and dest_ok:
            transitions.append(TransitionDef(
                index=i, trigger=trigger, sources=tuple(sources), dest=dest, guards=tuple(guard_refs),
                requires_reason=flags["requires_reason"], approval=approval, effects=tuple(effects),
                auto=flags["auto"], description=description, requesters=requesters, title=ttitle.strip(),
            ))

    # Reachability and dead ends, only when the graph itself is sound enough to judge.
    if states and isinstance(initial, str) and initial in states:
        reached = {initial}
        frontier = [initial]
        while frontier:
            here = frontier.pop()
            for t in transitions:
                if here in t.sources and t.dest not in reached:
                    reached.add(t.dest)
                    frontier.append(t.dest)
        # A broken transition (say a misspelt dest) would make states look unreachable: report only its own error.
        broken = any(key.startswith("transitions") for key in problems)
        for sname in states:
            if sname not in reached and not broken:
                problems.setdefault(f"states.{sname}", f"unreachable from the initial state {initial!r}")
        for sname, sdef in states.items():
            if not sdef.final and sname not in leaving:
                problems.setdefault(f"states.{sname}",
                                    "no transition leaves this state and it is not listed in final")

    if problems:
        count = len(problems)
        summary = "; ".join(f"{k}: {v}" for k, v in list(problems.items())[:3])
        raise InvalidInput(
            f"{origin}: {count} problem{'s' if count != 1 else ''} in the lifecycle definition: {summary}"
            + (" …" if count > 3 else ""),
            problems,
        )
    return Definition(
        name=name, title=data.get("title") or name, description=(data.get("description") or "").strip(),
        initial=initial, final=tuple(final_list), states=states, transitions=tuple(transitions),
        raw=data, digest=digest_of(data), checks=checks, measure_after_days=measure_after,
    )


def _people_and_roles(raw: Any, path: str, problems: dict[str, str], required: bool = False) -> tuple[str, ...]:
    """A list of role keys and {person: handle} entries (requesters, tickers) as `role` / `person:handle`."""
    if raw is None:
        if required:
            problems[path] = "is required: the roles and {person: handle} entries who may do it"
        return ()
    if not isinstance(raw, list) or not raw:
        problems[path] = "must be a non-empty list of roles and {person: handle} entries"
        return ()
    out: list[str] = []
    for j, entry in enumerate(raw):
        if isinstance(entry, str) and approvals.ROLE_KEY.match(entry):
            out.append(entry)
        elif (isinstance(entry, Mapping) and set(entry) == {"person"} and isinstance(entry["person"], str)
              and approvals.HANDLE.match(entry["person"])):
            out.append(f"person:{entry['person']}")
        else:
            problems[f"{path}[{j}]"] = f"a role key or {{person: handle}}, got {entry!r}"
    return tuple(out)


# --- the `lifecycle` section of govern.yaml (called by govern.orgfile.load) ------------------------------------------------


def definition_from_section(section: Any) -> Definition:
    """A shipped name (`default`), `{name: default}`, `{file: path}` or an inline definition (a mapping with states)."""
    if section is None:
        return load_definition("default")
    if isinstance(section, str):
        return load_definition(section)
    if isinstance(section, Mapping):
        if "states" in section or "transitions" in section:
            return parse_definition(section, "lifecycle")
        if set(section) == {"file"} and isinstance(section["file"], str):
            return load_definition(Path(section["file"]))
        if set(section) == {"name"} and isinstance(section["name"], str):
            return load_definition(section["name"])
    raise InvalidInput("lifecycle: a shipped name, {file: path} or an inline definition",
                       {"lifecycle": f"expected a shipped name ({', '.join(shipped_names())}), {{file: path}} or an "
                                     f"inline definition; got {section!r}"})


def validate_lifecycle_section(section: Any) -> dict[str, str]:
    """Every problem with govern.yaml's `lifecycle` section, keyed by its place: `lifecycle.transitions[3].dest` for an
    inline definition, `lifecycle.file (mine.yaml): transitions[3].dest` for a definition in its own file."""
    try:
        definition_from_section(section)
    except InvalidInput as err:
        details = err.details if isinstance(err.details, Mapping) else {}
        in_file = isinstance(section, Mapping) and "file" in section and "states" not in section
        out: dict[str, str] = {}
        for key, message in details.items():
            key = str(key)
            if key in ("lifecycle", "file", ""):
                out["lifecycle.file" if in_file else "lifecycle"] = err.message if key != "lifecycle" else message
            elif in_file:
                out[f"lifecycle.file ({section['file']}): {key}"] = message
            else:
                out[f"lifecycle.{key}"] = message
        return out or {"lifecycle": err.message}
    return {}


def resolve_lifecycle(section: Any) -> dict[str, Any]:
    """The `lifecycle.current` setting: name, initial state and the whole validated definition (so a running server
    never depends on the file again), with its digest."""
    d = definition_from_section(section)
    return {"name": d.name, "initial": d.initial, "final": list(d.final), "digest": d.digest,
            "definition": json.loads(json.dumps(d.raw, default=str))}
