"""Suggestions for sorting a pile of evidence, computed locally: never a network call, and every result is labelled a
suggestion (`SUGGESTION`) wherever it is shown.

- suggested steps for an insight: TF-IDF cosine similarity (word uni/bigrams and character n-grams) of its text
  against each step's own words (name, touchpoint, journey) and against the texts of the insights already linked to
  it, as a nearest-neighbour vote (`step_scores`);
- near-duplicates: TF-IDF cosine above `DUPLICATE_THRESHOLD`;
- themes across a set of evidence: k-means over TF-IDF (deterministic, `random_state=0`), each theme with its size,
  top words and the step it most resembles ("link these N to step …");
- sentiment when an insight has none: VADER's compound score (-1..1) times two, on the insight's -2..+2 scale.

The pure computation takes plain data (texts, keys, step documents) and imports nothing from Flask or the database;
the loaders at the bottom read what it needs in a bounded number of statements.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

SUGGESTION = "suggestion"  # the label every computed result carries (API field `label`, shown on every page)
DUPLICATE_THRESHOLD = 0.85  # cosine on character n-grams: the same sentence with a typo or a changed word
STEP_MIN_SCORE = 0.03  # below this a step is not worth suggesting
THEMES_CAP = 2000  # at most this many insights are clustered (the most recent ones); the themes page says so
LINKED_TEXTS_PER_STEP = 50  # the most recent insights of a step that describe it
_WORD = re.compile(r"(?u)\b[^\W\d_][^\W_]+\b")


@dataclass(frozen=True)
class StepDoc:
    """A step as the suggestions see it: its `journey/step` reference, its name, its journey's name, the words that
    describe it (`text`) and the texts of insights already linked to it (`examples`)."""

    ref: str
    name: str
    journey: str
    text: str
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepSuggestion:
    step: str
    name: str
    journey: str
    score: float
    label: str = SUGGESTION


@dataclass(frozen=True)
class DuplicateSuggestion:
    key: str
    text: str
    score: float
    label: str = SUGGESTION


@dataclass(frozen=True)
class Theme:
    size: int
    keys: tuple[str, ...]
    top_words: tuple[str, ...]
    step: StepSuggestion | None
    label: str = SUGGESTION
    examples: tuple[str, ...] = field(default=())


def _vectorizers():
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(stop_words="english", sublinear_tf=True, token_pattern=_WORD.pattern, ngram_range=(1, 2))
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    return words, chars


def _similarity(queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
    """queries × documents cosine similarity: the mean of a word (uni- and bigram) and a character n-gram TF-IDF, both
    fitted on the documents and queries together (so a word only a query uses still counts against the others)."""
    from sklearn.metrics.pairwise import linear_kernel

    if not queries or not documents:
        return np.zeros((len(queries), len(documents)))
    corpus = [*documents, *queries]
    out = np.zeros((len(queries), len(documents)))
    parts = 0
    for vectorizer in _vectorizers():
        try:
            matrix = vectorizer.fit_transform(corpus)
        except ValueError:  # nothing but stop words (or nothing at all) in the corpus
            continue
        docs, qs = matrix[: len(documents)], matrix[len(documents):]
        out += linear_kernel(qs, docs)  # rows are L2-normalised: the dot product is the cosine
        parts += 1
    return out / parts if parts else out


META_WEIGHT = 0.35  # how much a step's own words count against the insights already linked to it
NEIGHBOURS = 3  # a step's evidence part: the mean similarity of its NEIGHBOURS most similar linked insights


def step_scores(texts: Sequence[str], steps: Sequence[StepDoc]) -> np.ndarray:
    """texts × steps: META_WEIGHT × the similarity to the step's own words + the rest × the mean similarity to its
    NEIGHBOURS nearest linked insights (a nearest-neighbour vote: a short step name sharing one rare word with a text
    does not beat a step whose evidence says the same thing). Without any linked evidence anywhere, the step's words
    decide alone."""
    examples = [(j, e) for j, step in enumerate(steps) for e in step.examples]
    sims = _similarity(list(texts), [s.text for s in steps] + [e for _, e in examples])
    meta, linked = sims[:, :len(steps)], sims[:, len(steps):]
    if not examples:
        return meta
    evidence = np.zeros_like(meta)
    owners = np.array([j for j, _ in examples])
    for j in range(len(steps)):
        columns = linked[:, owners == j]
        if columns.shape[1]:
            top = np.sort(columns, axis=1)[:, ::-1][:, :NEIGHBOURS]
            evidence[:, j] = top.mean(axis=1)
    return META_WEIGHT * meta + (1 - META_WEIGHT) * evidence


def suggest_steps_for_texts(texts: Sequence[str], steps: Sequence[StepDoc], *, limit: int = 3,
                            min_score: float = STEP_MIN_SCORE) -> list[list[StepSuggestion]]:
    """For each text, up to `limit` steps ranked by `step_scores` (best first), each at or above `min_score`."""
    if not steps or not texts:
        return [[] for _ in texts]
    scores = step_scores(texts, steps)
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:limit]
        out.append([StepSuggestion(steps[i].ref, steps[i].name, steps[i].journey, round(float(row[i]), 3))
                    for i in order if row[i] >= min_score])
    return out


def suggest_steps(text: str, steps: Sequence[StepDoc], *, limit: int = 3) -> list[StepSuggestion]:
    return suggest_steps_for_texts([text], steps, limit=limit)[0]


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def near_duplicates(text: str, candidates: Sequence[tuple[str, str]], *,
                    threshold: float = DUPLICATE_THRESHOLD, limit: int = 5) -> list[DuplicateSuggestion]:
    """The candidates (key, text) whose text is near-identical to `text` (the same words, or a cosine on character
    n-grams at or above `threshold`), most similar first."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    if not candidates or not text.strip():
        return []
    wanted = _normal(text)
    corpus = [c[1] for c in candidates] + [text]
    try:
        matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(corpus)
        scores = linear_kernel(matrix[-1], matrix[:-1])[0]
    except ValueError:
        scores = np.zeros(len(candidates))
    found = []
    for (key, other), score in zip(candidates, scores):
        score = 1.0 if wanted and _normal(other) == wanted else float(score)
        if score >= threshold:
            found.append(DuplicateSuggestion(key, other, round(min(score, 1.0), 3)))
    found.sort(key=lambda d: -d.score)
    return found[:limit]


def duplicates_among(texts: Sequence[tuple[str, str]], candidates: Sequence[tuple[str, str]], *,
                     threshold: float = DUPLICATE_THRESHOLD) -> list[tuple[str, str, float]]:
    """For each (key, text) of `texts`, the candidate (key, text) it most resembles when they are near-identical by
    the rule of `near_duplicates` (the same words, or a cosine on character n-grams at or above `threshold`):
    (text key, candidate key, score), most similar first. One TF-IDF fit for the whole batch."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    texts = [(k, t) for k, t in texts if isinstance(t, str) and t.strip()]
    if not texts or not candidates:
        return []
    same_words: dict[str, str] = {}
    for key, other in candidates:
        same_words.setdefault(_normal(other), key)
    same_words.pop("", None)
    try:
        matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(
            [c[1] for c in candidates] + [t for _, t in texts])
        scores = linear_kernel(matrix[len(candidates):], matrix[:len(candidates)])
    except ValueError:
        scores = np.zeros((len(texts), len(candidates)))
    found = []
    for i, (key, text) in enumerate(texts):
        exact = same_words.get(_normal(text))
        if exact is not None:
            found.append((key, exact, 1.0))
            continue
        best = int(np.argmax(scores[i]))
        if scores[i, best] >= threshold:
            found.append((key, candidates[best][0], round(float(min(scores[i, best], 1.0)), 3)))
    found.sort(key=lambda f: -f[2])
    return found


def duplicate_pairs(items: Sequence[tuple[str, str]], *, threshold: float = DUPLICATE_THRESHOLD,
                    limit: int = 50) -> list[tuple[str, str, float]]:
    """Pairs (older key, newer key, score) of near-identical texts within a set, most similar first."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    if len(items) < 2:
        return []
    try:
        matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(
            [t for _, t in items])
    except ValueError:
        return []
    scores = linear_kernel(matrix)
    rows, cols = np.nonzero(np.triu(scores >= threshold, k=1))
    pairs = [(items[r][0], items[c][0], round(float(min(scores[r, c], 1.0)), 3)) for r, c in zip(rows, cols)]
    pairs.sort(key=lambda p: -p[2])
    return pairs[:limit]


def theme_count(n: int, max_themes: int = 12) -> int:
    """How many themes to look for in n insights: about sqrt(n/2), at least 1 and at most `max_themes`."""
    return max(1, min(max_themes, n, round(math.sqrt(n / 2))))


def themes(items: Sequence[tuple[str, str]], steps: Sequence[StepDoc] = (), *, n_themes: int | None = None,
           top_words: int = 5) -> list[Theme]:
    """Group evidence (key, text) into themes with k-means over word TF-IDF; largest theme first. Each theme names
    its top words (the heaviest terms of its centre) and the step its texts most resemble, if any."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not items:
        return []
    k = n_themes or theme_count(len(items))
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, token_pattern=_WORD.pattern, max_df=0.9
                                 if len(items) > 10 else 1.0)
    try:
        matrix = vectorizer.fit_transform([t for _, t in items])
    except ValueError:
        return [Theme(len(items), tuple(key for key, _ in items), (), None,
                      examples=tuple(t for _, t in items[:3]))]
    k = min(k, matrix.shape[0], max(1, matrix.nnz and matrix.shape[1]))
    if k > 1:
        with warnings.catch_warnings():  # fewer distinct texts than k: the empty themes are dropped below
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = KMeans(n_clusters=k, n_init=10, random_state=0).fit(matrix)
        labels, centres = model.labels_, model.cluster_centers_
    else:
        labels, centres = np.zeros(matrix.shape[0], dtype=int), np.asarray(matrix.mean(axis=0))
    terms = vectorizer.get_feature_names_out()
    groups = []
    for c in range(len(centres)):
        members = [i for i, label in enumerate(labels) if label == c]
        if not members:
            continue
        order = np.argsort(-centres[c], kind="stable")
        words = tuple(str(terms[i]) for i in order[:top_words] if centres[c][i] > 0)
        groups.append((members, words))
    suggested = suggest_steps_for_texts([" ".join(items[i][1] for i in members) for members, _ in groups], steps,
                                        limit=1) if steps else [[] for _ in groups]
    out = [Theme(len(members), tuple(items[i][0] for i in members), words, (best[0] if best else None),
                 examples=tuple(items[i][1] for i in members[:3]))
           for (members, words), best in zip(groups, suggested)]
    out.sort(key=lambda t: (-t.size, t.keys))
    return out


@functools.lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def suggest_sentiment(text: str) -> float:
    """VADER's compound score (-1..1) mapped onto the insight's -2..+2 scale, to one decimal."""
    if not text or not text.strip():
        return 0.0
    compound = _vader().polarity_scores(text)["compound"]
    return round(max(-2.0, min(2.0, 2.0 * compound)), 1)


# --- loaders: what the computation needs, read in a bounded number of statements --------------------------------------


def step_documents(session: Session, step_ids: Iterable[int] | None = None) -> list[StepDoc]:
    """Every step (or those given) with its name, touchpoint, journey and the texts of up to LINKED_TEXTS_PER_STEP of its
    most recent insights: two statements, whatever the number of steps or insights."""
    from govern.model import Insight, Journey, Step, insight_step

    query = (sa.select(Step.id, Step.key, Step.name, Step.touchpoint, Journey.key, Journey.name)
             .join(Journey, Step.journey_id == Journey.id).order_by(Journey.key, Step.position, Step.id))
    if step_ids is not None:
        query = query.where(Step.id.in_(list(step_ids)))
    rows = session.execute(query).all()
    if not rows:
        return []
    rank = sa.func.row_number().over(partition_by=insight_step.c.step_id,
                                     order_by=insight_step.c.insight_id.desc()).label("rank")
    linked = (sa.select(insight_step.c.step_id, Insight.text, rank)
              .join(Insight, Insight.id == insight_step.c.insight_id)
              .where(Insight.redacted_at.is_(None), *_not_merged(Insight))
              .subquery())
    texts: dict[int, list[str]] = {}
    for step_id, text in session.execute(sa.select(linked.c.step_id, linked.c.text)
                                         .where(linked.c.rank <= LINKED_TEXTS_PER_STEP)):
        texts.setdefault(step_id, []).append(text)
    return [StepDoc(f"{jkey}/{skey}", name, jname, " ".join([name, touchpoint or "", jname]),
                    tuple(texts.get(sid, ())))
            for sid, skey, name, touchpoint, jkey, jname in rows]


def _not_merged(insight_cls) -> list:
    """`merged_into_id IS NULL` when the model has the column (a merged duplicate is not evidence of its own)."""
    column = getattr(insight_cls, "merged_into_id", None)
    return [] if column is None else [column.is_(None)]
