"""The guided interview: partial situations, the next questions, answers and "don't know".

A partial situation is a situation (SPEC §2) with fields left out: absent means unknown, as
always. It is checked exactly as a full one is (types, enums, bounds, dates against ``as_of``),
with two allowances only: ``schema_version`` may be left out (it is 1), and ``loans`` may be
empty or left out until the borrower has named them. Until then the advice is evaluated with no
loans (what does not depend on a loan: a crisis, a scam); a saved situation always has one.

:func:`next_questions` evaluates the partial situation, asks ``engine.interview.relevance``
which unknown inputs could still change the top of the advice or the plan, confirms each with a
witness found with the engine itself (``engine.interview.witness``: two answers that give
different advice; a candidate without one is not asked), and orders them: those whose answer
alone changes the advice before those that change it only together with other open answers;
within each, the question groups of the pack's ``questions.yaml`` (safety gates, then the
loans, …), then impact. A field path the borrower declined ("don't know") is never asked again.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.api import evaluate
from engine.core.errors import SituationError, UsageError
from engine.core.facts import input_facts
from engine.core.safetext import one_line
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.interview.book import LOANS, QuestionBook, QuestionSpec, load_book
from engine.interview.possible import Values
from engine.interview.relevance import Effects, Relevance, telling_order, unknown_inputs
from engine.interview.witness import QUICK_VALUES, Search, Witness
from engine.load.situation import SCHEMA_VERSION, validate_situation
from engine.run.memory import Key
from engine.run.ruleset import RuleSet

SOURCE = "<interview>"  #: how messages name the situation being built
#: stands in for the loans while none is named, so that the rest is checked as in a full
#: situation; never evaluated
_PLACEHOLDER_LOAN = {"id": "placeholder", "product": "other_online_loan"}
_PATH = re.compile(r"^loans\[(\d+)\]\.([a-z_]+(?:\.[a-z_]+)*)$")
_FIELD_PATH = re.compile(r"^[a-z_]+(?:\.[a-z_]+)*$")


@dataclass(frozen=True)
class Question:
    """One question, ready to ask: its text in one locale and why it matters."""

    path: str  #: where the answer goes: ``borrower.monthly_income``, ``loans[0].status.legal``
    field: str  #: the input fact: ``borrower.monthly_income``, ``loan.status.legal``; ``loans``
    loan_id: str | None
    text: str
    help: str
    type: str  #: boolean, choice, choices, money, integer, percent, date, text or loans
    choices: tuple[tuple[Any, str], ...]  #: (value, label) in order; empty for typed answers
    sensitive: bool
    group: str
    actions: tuple[str, ...]  #: actions whose place in the top it could change
    plan: tuple[Key, ...]  #: plan facts (fact, loan id) it could change
    impact: int
    witness: Witness  #: two answers that give different advice, found with the engine itself

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (docs/interview.md, "Question")."""
        return {
            "path": self.path,
            "field": self.field,
            "loan_id": self.loan_id,
            "text": self.text,
            "help": self.help,
            "type": self.type,
            "choices": [{"value": v, "label": label} for v, label in self.choices] or None,
            "sensitive": self.sensitive,
            "group": self.group,
            "why": {
                "actions": list(self.actions),
                "plan": [{"fact": f, "loan_id": lid} for f, lid in self.plan],
                "witness": self.witness.as_dict(),
            },
            "impact": self.impact,
        }


# --- partial situations -----------------------------------------------------------------------


def check_partial(
    situation: Mapping[str, Any], *, today: dt.date | None = None, source: str = SOURCE
) -> dict[str, Any]:
    """A checked copy of a partial situation, with ``schema_version`` and ``loans`` filled in.

    Raises SituationError exactly as a full situation's check would; the only allowances are a
    missing ``schema_version`` and no loans yet.
    """
    if not isinstance(situation, Mapping):
        raise SituationError(source, "$", "expected a JSON object at the top level")
    doc = copy.deepcopy(dict(situation))
    doc.setdefault("schema_version", SCHEMA_VERSION)
    doc.setdefault("loans", [])
    if doc["loans"] == []:
        validate_situation({**doc, "loans": [_PLACEHOLDER_LOAN]}, source, today=today)
    else:
        validate_situation(doc, source, today=today)
    return doc


def evaluate_partial(
    ruleset: RuleSet,
    situation: Mapping[str, Any],
    *,
    locale: str | None = None,
    today: dt.date | None = None,
) -> Decision:
    """The advice for a partial situation, as it stands (``check_partial``, then evaluate)."""
    doc = check_partial(situation, today=today)
    return evaluate(ruleset, doc, locale=locale, today=today, validated=True)


# --- the next questions -----------------------------------------------------------------------


def next_questions(
    ruleset: RuleSet,
    situation: Mapping[str, Any],
    *,
    locale: str = "zh-CN",
    limit: int = 5,
    declined: Iterable[str] = (),
    today: dt.date | None = None,
) -> list[Question]:
    """The questions whose answers can still change the top of the advice or the plan, most
    urgent first (at most ``limit``; all with ``limit=0``), each with its witness. Empty: the
    advice is settled."""
    return _open_questions(ruleset, situation, locale, declined, today, limit).questions


@dataclass(frozen=True)
class Step:
    """The next questions and how many at most are left: the open questions the analysis lets
    through (a bound: each is asked only once a witness is found, and answers close others)."""

    questions: list[Question]
    remaining_at_most: int


@dataclass(frozen=True)
class _Open:
    """An open question the analysis lets through, before its witness is searched."""

    rank: tuple[int, int, int, int, int]  #: group, priority, impact, field order, loan order
    key: Key
    path: str
    spec: QuestionSpec
    effects: Effects
    values: tuple[Hashable, ...]  #: the answers to try, "don't know" first


def _open_questions(
    ruleset: RuleSet,
    situation: Mapping[str, Any],
    locale: str,
    declined: Iterable[str],
    today: dt.date | None,
    limit: int = 0,
) -> Step:
    """The questions with a witness, in the order they are asked (at most ``limit``; all with
    0): those whose answer alone changes the advice, then those that change it only together
    with another open answer; within each, by group, priority, impact, field and loan."""
    if locale not in ruleset.pack.locales:
        allowed = ", ".join(repr(name) for name in ruleset.pack.locales)
        raise UsageError(f"unknown locale {locale!r}: expected one of {allowed}")
    book = load_book(ruleset.pack)
    skipped = set(declined)
    decision = evaluate_partial(ruleset, situation, locale=locale, today=today)
    order = {name: i for i, name in enumerate(input_facts())}
    loans = decision.memory.loans
    found: list[_Open] = []
    if not loans and LOANS not in skipped:
        spec = book.questions[LOANS]
        kinds = tuple((c.value,) for c in spec.choices)
        rank = (book.group_rank(spec.group), -spec.priority, 0, -1, -1)
        found.append(_Open(rank, (LOANS, None), LOANS, spec, Effects((), ()), kinds))
    fields = [name for name in book.questions if name != LOANS]
    keys = unknown_inputs(decision, fields)
    paths = {
        key: path_of(key[0], loans.index(key[1]) if key[1] is not None else None) for key in keys
    }
    open_keys = [k for k in keys if paths[k] not in skipped]
    relevance = Relevance(decision, book.top, [k for k in keys if paths[k] in skipped])
    reach: dict[Key, frozenset[int]] = {}
    for key in open_keys:
        fact, loan = key
        effects = relevance.effects(key)
        reach[key] = effects.reach
        if not effects:
            continue
        values = relevance.values.get(key)
        if values is None:
            continue  # answers that cannot be listed cannot be tried: no witness, not asked
        impact = sum(relevance.bound[a] for a in effects.actions) + book.plan_weight * len(
            effects.plan
        )
        spec = book.questions[fact]
        rank = (
            book.group_rank(spec.group),
            -spec.priority,
            -impact,
            order[fact],
            loans.index(loan) if loan is not None else -1,
        )
        found.append(_Open(rank, key, paths[key], spec, effects, tuple(telling_order(values))))
    found.sort(key=lambda item: item.rank)
    search = Search(
        situation,
        decision,
        book.top,
        lambda doc, path, value: apply_answer(doc, path, value, today=today),
        lambda doc: evaluate(
            ruleset, doc, locale=locale, today=today, validated=True, backend="compiled"
        ),
    )
    asked: list[Question] = []
    done: set[str] = set()
    # First what matters alone, then what matters only together with another open answer; the
    # analysis tells which can matter alone. Alone, each question is first tried with a few
    # answers (from both ends of its candidates inwards), then with every candidate: most
    # witnesses are found at once, and a question that needs many tries is not tried again
    # and again, once per question ranked after it, at every step.
    passes: list[tuple[str, int | None]] = [("alone", QUICK_VALUES), ("alone", None), ("joint", 0)]
    for kind, first in passes:
        for item in found:  # in rank order, so the first found are the first asked
            if item.path in done or (kind == "alone" and not _alone(item)):
                continue
            if kind == "alone":
                witness = search.alone(item.path, item.values, first)
            else:
                partners = _partners(item, open_keys, reach, paths, relevance.values)
                witness = search.joint(item.path, item.values, partners)
            if witness is None:
                continue
            done.add(item.path)
            asked.append(_question(item, locale, decision, relevance.bound, book, witness))
            if limit and len(asked) >= limit:
                return Step(asked, len(found))
    return Step(asked, len(found))


def _alone(item: _Open) -> bool:
    """Whether the analysis lets the question matter alone (the loans question always does)."""
    return item.effects.alone or item.path == LOANS


def _partners(
    item: _Open,
    open_keys: Sequence[Key],
    reach: Mapping[Key, frozenset[int]],
    paths: Mapping[Key, str],
    values: Mapping[Key, Values],
) -> list[tuple[str, tuple[Hashable, ...]]]:
    """The open inputs worth answering together with ``item``: those whose answers reach rules
    that its answer reaches too, the most rules in common first (then in the schema's order)."""
    mine = item.effects.reach
    shared = []
    for index, key in enumerate(open_keys):
        common = len(mine & reach.get(key, frozenset()))
        answers = values.get(key)
        if key != item.key and common and answers is not None:
            shared.append((-common, index, paths[key], tuple(telling_order(answers))))
    shared.sort(key=lambda x: (x[0], x[1]))
    return [(path, answers) for _, _, path, answers in shared]


def _question(
    item: _Open,
    locale: str,
    decision: Decision,
    bound: Mapping[str, int],
    book: QuestionBook,
    witness: Witness,
) -> Question:
    spec, effects = item.spec, item.effects
    loan = item.key[1]
    name = loan_name(decision, loan, locale) if loan is not None else ""
    impact = sum(bound[a] for a in effects.actions) + book.plan_weight * len(effects.plan)
    return Question(
        path=item.path,
        field=spec.field,
        loan_id=loan,
        text=spec.text[locale].replace("{loan}", name),
        help=spec.help[locale].replace("{loan}", name),
        type=spec.type,
        choices=tuple((c.value, c.label[locale]) for c in spec.choices),
        sensitive=spec.sensitive,
        group=spec.group,
        actions=effects.actions,
        plan=effects.plan,
        impact=impact,
        witness=witness,
    )


def loan_name(decision: Decision, loan: str, locale: str) -> str:
    """A loan as the borrower knows it (the pack's plan names), else its id."""
    spec = decision.ruleset.pack.plan
    if spec is not None and spec.name is not None:
        value = decision.memory.get(spec.name[locale], loan)
        if isinstance(value, str) and value:
            return one_line(value)
    return one_line(loan)


# --- paths and answers ------------------------------------------------------------------------


def path_of(fact: str, loan_index: int | None) -> str:
    """``borrower.monthly_income`` for a situation fact; ``loans[0].status.legal`` for a loan's."""
    if fact.startswith("loan."):
        return f"loans[{loan_index}].{fact.removeprefix('loan.')}"
    return fact


def _split(path: str) -> tuple[int | None, list[str]]:
    """``loans[0].status.legal`` → (0, ["status", "legal"]); ``plans.x`` → (None, [...])."""
    match = _PATH.match(path)
    if match:
        return int(match.group(1)), match.group(2).split(".")
    if _FIELD_PATH.match(path) and not path.startswith("loans"):
        return None, path.split(".")
    raise UsageError(f"not a question path: {path!r} (expected e.g. borrower.monthly_income)")


def field_of(path: str) -> str:
    """The input field a path asks for: ``loans[1].status.legal`` → ``loan.status.legal``."""
    if path == LOANS:
        return LOANS
    index, parts = _split(path)
    return ("loan." if index is not None else "") + ".".join(parts)


def apply_answer(
    situation: Mapping[str, Any],
    path: str,
    value: Any,
    *,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """A new partial situation with the answer at ``path``, checked as the schema checks it
    (SituationError with the path and the schema's message when the value is not accepted).

    ``loans`` takes the list of the loans' kinds (``["jiebei", "credit_card"]``; ids are made
    from them: ``jiebei``, ``credit_card``, ``credit_card-2``) or of ``{"id", "product"}``
    objects; it may be given only while there are no loans.
    """
    doc = copy.deepcopy(dict(situation))
    if path == LOANS:
        if doc.get("loans"):
            raise UsageError("the loans are already named; start a new interview to change them")
        doc["loans"] = make_loans(value)
        return check_partial(doc, today=today)
    field = field_of(path)
    if field not in input_facts() or field in ("as_of", "locale", "loan.id", "loan.product"):
        raise UsageError(f"not a question path: {path!r}")
    index, parts = _split(path)
    node = _container(doc, index, path)
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UsageError(f"cannot answer {path}: {part} is not an object")
        node = child
    node[parts[-1]] = value
    return check_partial(doc, today=today)


def forget(situation: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy without the answer at ``path`` (and without objects it leaves empty)."""
    doc = copy.deepcopy(dict(situation))
    if path == LOANS:
        doc["loans"] = []
        return doc
    index, parts = _split(path)
    try:
        node = _container(doc, index, path)
    except UsageError:
        return doc
    trail: list[dict[str, Any]] = [node]
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return doc
        node = child
        trail.append(node)
    node.pop(parts[-1], None)
    for depth in range(len(parts) - 1, 0, -1):  # drop objects left empty, innermost first
        if not trail[depth]:
            trail[depth - 1].pop(parts[depth - 1], None)
    return doc


def _container(doc: dict[str, Any], index: int | None, path: str) -> dict[str, Any]:
    if index is None:
        return doc
    loans = doc.get("loans")
    if not isinstance(loans, list) or not 0 <= index < len(loans):
        raise UsageError(f"cannot answer {path}: there is no loan {index}")
    loan = loans[index]
    if not isinstance(loan, dict):
        raise UsageError(f"cannot answer {path}: loan {index} is not an object")
    return loan


def make_loans(value: Any) -> list[dict[str, Any]]:
    """Loans from the loans answer: kinds (ids made from them) or ``{"id", "product"}``."""
    if not isinstance(value, list | tuple):
        raise SituationError(SOURCE, "$.loans", "expected a list of the loans' kinds")
    loans: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for item in value:
        if isinstance(item, Mapping):
            loans.append(dict(item))
            continue
        kind = str(item)
        seen[kind] = seen.get(kind, 0) + 1
        loan_id = kind if seen[kind] == 1 else f"{kind}-{seen[kind]}"
        loans.append({"id": loan_id, "product": item})
    return loans


def value_at(situation: Mapping[str, Any], path: str) -> Any:
    """The answer at ``path`` in a situation, or UNKNOWN when it has none."""
    if path == LOANS:
        loans = situation.get("loans")
        return loans if loans else UNKNOWN
    index, parts = _split(path)
    node: Any = situation
    if index is not None:
        loans = situation.get("loans")
        if not isinstance(loans, list) or index >= len(loans):
            return UNKNOWN
        node = loans[index]
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return UNKNOWN
        node = node[part]
    return UNKNOWN if node is None else node


# --- one interview, step by step --------------------------------------------------------------


@dataclass
class Interview:
    """An interview in progress: the situation so far, the declined paths and the history
    (for back). Every step re-evaluates the situation; nothing is cached between steps."""

    ruleset: RuleSet
    situation: dict[str, Any]
    locale: str = "zh-CN"
    declined: list[str] = field(default_factory=list)
    today: dt.date | None = None
    #: each step: (path, what was there before, whether it was a "don't know")
    history: list[tuple[str, Any, bool]] = field(default_factory=list)

    def questions(self, limit: int = 0) -> list[Question]:
        return next_questions(
            self.ruleset,
            self.situation,
            locale=self.locale,
            limit=limit,
            declined=self.declined,
            today=self.today,
        )

    def next_step(self, limit: int = 1) -> Step:
        """The next ``limit`` questions (0: all) and at most how many are left."""
        return _open_questions(
            self.ruleset, self.situation, self.locale, self.declined, self.today, limit
        )

    def answer(self, path: str, value: Any) -> None:
        before = value_at(self.situation, path)
        self.situation = apply_answer(self.situation, path, value, today=self.today)
        self.history.append((path, before, False))

    def skip(self, path: str) -> None:
        """Record "don't know": the path is never asked again."""
        if path not in self.declined:
            self.declined.append(path)
        self.history.append((path, UNKNOWN, True))

    def back(self) -> str | None:
        """Undo the last step; returns its path (None when there is nothing to undo)."""
        if not self.history:
            return None
        path, before, skipped = self.history.pop()
        if skipped:
            self.declined.remove(path)
        elif before is UNKNOWN:
            self.situation = forget(self.situation, path)
        else:
            self.situation = apply_answer(
                forget(self.situation, path), path, before, today=self.today
            )
        return path

    def decision(self) -> Decision:
        return evaluate_partial(self.ruleset, self.situation, locale=self.locale, today=self.today)


# --- one request, one answer (the HTTP shape) -------------------------------------------------


def interview_next(
    ruleset: RuleSet,
    body: Mapping[str, Any],
    *,
    limit: int = 5,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """One interview step as JSON: ``body`` is ``{"situation": {...partial...}, "declined":
    [paths], "locale": "zh-CN" | "en"}`` (only ``situation`` required); the answer is
    ``{"questions": [Question.as_dict()...], "done": bool, "progress": {"answered": n,
    "remaining_at_most": m}}`` (docs/interview.md). Raises UsageError for a malformed body and
    SituationError for a situation the schema refuses.
    """
    if not isinstance(body, Mapping):
        raise UsageError("expected a JSON object with 'situation', 'declined' and 'locale'")
    extra = sorted(set(body) - {"situation", "declined", "locale"})
    if extra:
        raise UsageError(f"unknown field {extra[0]!r} (expected situation, declined, locale)")
    situation = body.get("situation", {})
    if not isinstance(situation, Mapping):
        raise UsageError("'situation' must be a JSON object (a partial situation)")
    declined = body.get("declined", [])
    if not isinstance(declined, list) or not all(isinstance(p, str) for p in declined):
        raise UsageError("'declined' must be a list of question paths")
    locale = body.get("locale", "zh-CN")
    if not isinstance(locale, str):
        raise UsageError("'locale' must be 'zh-CN' or 'en'")
    step = _open_questions(ruleset, situation, locale, declined, today, limit)
    return {
        "questions": [q.as_dict() for q in step.questions],
        "done": not step.questions,
        "progress": {
            "answered": answered_count(ruleset, situation, declined),
            "remaining_at_most": step.remaining_at_most if step.questions else 0,
        },
    }


def answered_count(ruleset: RuleSet, situation: Mapping[str, Any], declined: Iterable[str]) -> int:
    """Questions answered so far: askable paths with a value, and the declined ones."""
    book = load_book(ruleset.pack)
    loans = situation.get("loans")
    count = len(set(declined))
    for name in book.questions:
        if name == LOANS:
            count += bool(loans)
        elif name.startswith("loan."):
            for index in range(len(loans) if isinstance(loans, list) else 0):
                count += value_at(situation, path_of(name, index)) is not UNKNOWN
        else:
            count += value_at(situation, name) is not UNKNOWN
    return count


def load_partial_file(path: str, *, today: dt.date | None = None) -> dict[str, Any]:
    """Read a partial situation file (``--from``), bounded like every situation read, and check
    it (``check_partial``)."""
    from pathlib import Path

    from engine.core.userfiles import ReadProblem, read_file
    from engine.load.situation import MAX_BYTES, parse_situation_bytes

    try:
        data = read_file(Path(path), MAX_BYTES)
    except ReadProblem as problem:
        if problem.too_large:
            raise SituationError(path, "$", f"larger than the limit of {MAX_BYTES} bytes") from None
        raise UsageError(f"cannot read situation: {path}: {problem.reason}") from None
    doc = parse_situation_bytes(data, path)
    if not isinstance(doc, dict):
        raise SituationError(path, "$", "expected a JSON object at the top level")
    check_partial(doc, today=today, source=path)
    return doc


@dataclass(frozen=True)
class Replay:
    """An interview answered from a known situation: what was asked, in order, and the result."""

    asked: tuple[str, ...]
    situation: dict[str, Any]
    declined: tuple[str, ...]
    #: each asked question's witness, in the order asked
    witnesses: tuple[Witness, ...] = ()


def replay(
    ruleset: RuleSet,
    known: Mapping[str, Any],
    *,
    locale: str | None = None,
    today: dt.date | None = None,
) -> Replay:
    """Run an interview that answers each question from ``known`` (a full situation), and
    "don't know" where it has no value. Starts from its ``as_of`` and ``locale`` only; the loans
    are named with their own ids. Used to measure and test the interview (docs/interview.md)."""
    start = {k: known[k] for k in ("as_of", "locale") if k in known}
    session = Interview(
        ruleset, start, locale=locale or str(known.get("locale", "zh-CN")), today=today
    )
    asked: list[str] = []
    witnesses: list[Witness] = []
    while True:
        questions = session.questions(limit=1)
        if not questions:
            break
        path = questions[0].path
        asked.append(path)
        witnesses.append(questions[0].witness)
        if path == LOANS:
            loans = known.get("loans") or []
            session.answer(LOANS, [{"id": x["id"], "product": x["product"]} for x in loans])
            continue
        value = value_at(known, path)
        if value is UNKNOWN:
            session.skip(path)
        else:
            session.answer(path, value)
    return Replay(tuple(asked), session.situation, tuple(session.declined), tuple(witnesses))


def fields_read_for(ruleset: RuleSet, situation: Mapping[str, Any]) -> int:
    """How many questions a form asking every field the pack reads would have for this
    situation: each situation field, each loan field once per loan, and the loans themselves."""
    book = load_book(ruleset.pack)
    loans = situation.get("loans")
    count = 0
    for name in book.questions:
        if name.startswith("loan."):
            count += len(loans) if isinstance(loans, list) else 0
        else:
            count += 1
    return count
