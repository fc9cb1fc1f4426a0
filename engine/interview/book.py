"""The interview's questions as pack data: ``questions.yaml`` at a pack's root, read and checked.

The file says how each input field is asked (bilingual text and help, answer type, choices), the
order of the question groups, how many recommendations the interview settles and which fields
are not asked. Which question comes next is not written here: ``engine.interview.relevance``
computes it from the rules. ``check_book`` is what ``xieshang rules validate`` runs: every input
field the pack reads has a question, the choices are the schema's values, every problem with its
file:line:col.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import RuleError, RuleLoadError, UsageError
from engine.core.facts import FactSpec, input_facts
from engine.core.source import Location, shorten
from engine.core.userfiles import MAX_YAML_BYTES, ReadProblem, read_file
from engine.load.checks import facts_read
from engine.load.loader import QUESTIONS_FILE, display_root
from engine.pack.model import LocalText, Pack

LOANS = "loans"  #: the question that names the loans (each loan's kind; ids are made from it)
#: answer types, and the units of the input facts each one may ask for
ANSWER_TYPES: Mapping[str, tuple[str, ...]] = {
    "boolean": ("boolean",),
    "choice": ("text",),  # a text fact with an enum
    "choices": ("text",),  # a list fact with an enum of items
    "money": ("money",),
    "integer": ("integer", "days"),
    "percent": ("percent",),
    "date": ("date",),
    "text": ("text",),  # free text, no enum
    "loans": (),
}
#: fields every loan has by the schema: named by the loans question, never asked one by one
LOAN_IDENTITY = ("loan.id", "loan.product")


@dataclass(frozen=True)
class Choice:
    value: Any
    label: LocalText


@dataclass(frozen=True)
class QuestionSpec:
    """How one field is asked."""

    field: str  #: an input fact (``borrower.monthly_income``, ``loan.status.legal``) or ``loans``
    group: str
    type: str
    text: LocalText
    help: LocalText
    choices: tuple[Choice, ...]
    sensitive: bool
    priority: int  #: inside its group, higher first (before impact)
    location: Location


@dataclass(frozen=True)
class QuestionBook:
    """A pack's ``questions.yaml``, checked."""

    file: str
    top: int
    groups: tuple[str, ...]
    plan_weight: int
    implicit: Mapping[str, str]
    questions: Mapping[str, QuestionSpec]  #: by field

    def group_rank(self, group: str) -> int:
        return self.groups.index(group)


def book_path(pack: Pack) -> Path | None:
    """Where the pack's questions are: ``questions.yaml`` in its first root that has one."""
    for root in pack.roots:
        folder = Path(root)
        if folder.is_file():
            folder = folder.parent
        candidate = folder / QUESTIONS_FILE
        if candidate.is_file():
            return candidate
    return None


_CACHE: dict[tuple[str, str], QuestionBook] = {}


def load_book(pack: Pack) -> QuestionBook:
    """The pack's checked questions; UsageError when it has none, RuleLoadError when they are
    wrong (every problem, with file:line:col)."""
    path = book_path(pack)
    if path is None:
        raise UsageError(
            f"the rule pack {pack.name} has no {QUESTIONS_FILE}: it cannot run an interview"
        )
    book, errors = read_book(pack, path)
    if book is None:
        raise RuleLoadError(errors)
    return book


def read_book(pack: Pack, path: Path) -> tuple[QuestionBook | None, list[RuleError]]:
    """Read and check one questions file against ``pack``; the book, or None and the errors."""
    shown = f"{display_root(path.parent, str(path.parent))}/{path.name}"
    try:
        data = read_file(path, MAX_YAML_BYTES)
    except ReadProblem as problem:
        return None, [RuleError(Location(shown, 1, 1), "questions_unreadable", problem.reason)]
    key = (shown, hashlib.sha256(data + pack.digest.encode()).hexdigest())
    cached = _CACHE.get(key)
    if cached is not None:
        return cached, []
    from engine.core.yamlsource import load_yaml  # PyYAML loads only when a pack file is read

    doc, smap, errors = load_yaml(data, shown)
    if doc is None or errors:
        return None, errors or [RuleError(Location(shown, 1, 1), "questions_empty", "empty file")]
    checker = _Checker(pack, shown, smap)
    book = checker.book(doc)
    if checker.errors:
        return None, sorted(set(checker.errors))
    assert book is not None
    _CACHE[key] = book
    return book, []


def check_book(pack: Pack) -> list[RuleError]:
    """The problems of the pack's ``questions.yaml`` (none when it has no such file)."""
    path = book_path(pack)
    if path is None:
        return []
    return read_book(pack, path)[1]


def fields_read(pack: Pack) -> list[str]:
    """The input fields the pack's rules read, in schema order."""
    read: set[str] = set()
    for rule in pack.rules:
        read.update(facts_read(rule))
    return [name for name in input_facts() if name in read]


class _Checker:
    """Builds the book and collects every problem with its position."""

    def __init__(self, pack: Pack, shown: str, smap: Any) -> None:
        self.pack = pack
        self.shown = shown
        self.smap = smap
        self.errors: list[RuleError] = []

    def error(self, path: tuple[str | int, ...], code: str, message: str, hint: str = "") -> None:
        self.errors.append(RuleError(self.smap.locate(path), code, message, hint))

    def book(self, doc: Any) -> QuestionBook | None:
        if not isinstance(doc, dict):
            self.error((), "questions_shape", "expected a mapping with 'interview' and 'questions'")
            return None
        self._keys(doc, (), required=("interview", "questions"), optional=())
        settings = doc.get("interview")
        items = doc.get("questions")
        if not isinstance(settings, dict) or not isinstance(items, list):
            self.error((), "questions_shape", "'interview' must be a mapping, 'questions' a list")
            return None
        top, groups, weight, implicit = self._settings(settings)
        facts = input_facts()
        questions: dict[str, QuestionSpec] = {}
        for index, item in enumerate(items):
            spec = self._question(item, ("questions", index), groups, facts)
            if spec is None:
                continue
            if spec.field in questions:
                first = questions[spec.field].location
                self.error(
                    ("questions", index, "field"),
                    "question_duplicate",
                    f"a second question for '{spec.field}' (the first is at {first.as_given})",
                )
                continue
            questions[spec.field] = spec
        self._coverage(questions, implicit, items)
        return QuestionBook(self.shown, top, groups, weight, implicit, questions)

    def _keys(
        self,
        item: Mapping[str, Any],
        path: tuple[str | int, ...],
        required: Sequence[str],
        optional: Sequence[str],
    ) -> None:
        for key in required:
            if key not in item:
                self.error(path, "questions_missing_key", f"missing '{key}'")
        allowed = (*required, *optional)
        for key in item:
            if key not in allowed:
                self.error(
                    (*path, key),
                    "questions_unknown_key",
                    f"unknown key '{shorten(str(key))}' (expected one of: {', '.join(allowed)})",
                )

    def _settings(
        self, settings: Mapping[str, Any]
    ) -> tuple[int, tuple[str, ...], int, dict[str, str]]:
        path: tuple[str | int, ...] = ("interview",)
        self._keys(settings, path, ("top", "groups", "plan_weight"), ("implicit",))
        top = settings.get("top")
        if not (isinstance(top, int) and not isinstance(top, bool) and 1 <= top <= 50):
            self.error((*path, "top"), "questions_top", "expected an integer from 1 to 50")
            top = 5
        groups = settings.get("groups")
        if not (
            isinstance(groups, list)
            and groups
            and all(isinstance(g, str) for g in groups)
            and len(set(groups)) == len(groups)
        ):
            self.error((*path, "groups"), "questions_groups", "expected a list of distinct names")
            groups = []
        weight = settings.get("plan_weight")
        if not (isinstance(weight, int) and not isinstance(weight, bool) and weight >= 0):
            self.error((*path, "plan_weight"), "questions_plan_weight", "expected an integer ≥ 0")
            weight = 0
        implicit = settings.get("implicit", {})
        if not (isinstance(implicit, dict) and all(isinstance(v, str) for v in implicit.values())):
            self.error((*path, "implicit"), "questions_implicit", "expected field: reason")
            implicit = {}
        for name in implicit:
            if name not in input_facts():
                self.error(
                    (*path, "implicit", name),
                    "question_unknown_field",
                    f"'{shorten(str(name))}' is not an input field of the situation schema",
                )
        return top, tuple(groups), weight, dict(implicit)

    def _question(
        self,
        item: Any,
        path: tuple[str | int, ...],
        groups: Sequence[str],
        facts: Mapping[str, FactSpec],
    ) -> QuestionSpec | None:
        if not isinstance(item, dict):
            self.error(path, "questions_shape", "expected a mapping (field, group, type, text, …)")
            return None
        self._keys(
            item,
            path,
            ("field", "group", "type", "text", "help"),
            ("choices", "sensitive", "priority"),
        )
        field = item.get("field")
        if not isinstance(field, str) or not (field == LOANS or field in facts):
            self.error(
                (*path, "field"),
                "question_unknown_field",
                f"'{shorten(str(field))}' is not an input field of the situation schema",
            )
            return None
        if field in LOAN_IDENTITY:
            self.error(
                (*path, "field"),
                "question_loan_identity",
                f"'{field}' is named by the '{LOANS}' question, not asked on its own",
            )
            return None
        group = item.get("group")
        if group not in groups:
            self.error(
                (*path, "group"),
                "question_group",
                f"group '{shorten(str(group))}' is not in interview.groups ({', '.join(groups)})",
            )
        kind = item.get("type")
        spec = facts.get(field)
        self._type(kind, spec, field, path)
        text = self._text(item.get("text"), (*path, "text"), field)
        help_text = self._text(item.get("help"), (*path, "help"), field)
        choices = self._choices(item.get("choices"), kind, spec, path)
        sensitive = item.get("sensitive", False)
        if not isinstance(sensitive, bool):
            self.error((*path, "sensitive"), "question_sensitive", "expected true or false")
            sensitive = False
        priority = item.get("priority", 0)
        if not (isinstance(priority, int) and not isinstance(priority, bool)):
            self.error((*path, "priority"), "question_priority", "expected an integer")
            priority = 0
        if text is None or help_text is None or not isinstance(kind, str):
            return None
        return QuestionSpec(
            field,
            str(group),
            kind,
            text,
            help_text,
            choices,
            sensitive,
            priority,
            self.smap.locate((*path, "field")),
        )

    def _type(
        self, kind: Any, spec: FactSpec | None, field: str, path: tuple[str | int, ...]
    ) -> None:
        where = (*path, "type")
        if kind not in ANSWER_TYPES:
            self.error(
                where,
                "question_type",
                f"unknown answer type '{shorten(str(kind))}'"
                f" (expected one of: {', '.join(ANSWER_TYPES)})",
            )
            return
        if field == LOANS or spec is None:
            if kind != "loans":
                self.error(where, "question_type", f"the '{LOANS}' question has type 'loans'")
            return
        expected = _answer_type(spec)
        if kind != expected:
            self.error(
                where,
                "question_type",
                f"'{field}' is {spec.type} ({spec.unit}) in the situation schema:"
                f" its answer type is '{expected}', not '{kind}'",
            )

    def _text(self, text: Any, path: tuple[str | int, ...], field: str) -> LocalText | None:
        locales = self.pack.locales
        if not isinstance(text, dict) or not all(
            isinstance(text.get(k), str) and text[k].strip() for k in locales
        ):
            each = " and ".join(locales)
            self.error(path, "question_text", f"expected {each}, each a non-empty text")
            return None
        extra = [k for k in text if k not in locales]
        if extra:
            only = ", ".join(locales)
            self.error((*path, extra[0]), "question_text", f"only the pack's locales ({only})")
        if not field.startswith("loan.") and any("{loan}" in text[k] for k in locales):
            self.error(path, "question_text", "'{loan}' names a loan: only loan fields have one")
        return LocalText.of({k: text[k] for k in locales})

    def _choices(
        self, raw: Any, kind: Any, spec: FactSpec | None, path: tuple[str | int, ...]
    ) -> tuple[Choice, ...]:
        where = (*path, "choices")
        wanted = _schema_values(kind, spec)
        if wanted is None:
            if raw is not None:
                self.error(where, "question_choices", f"a '{kind}' answer has no choices")
            return ()
        if not isinstance(raw, list) or not raw:
            self.error(where if raw is not None else path, "question_choices", "choices missing")
            return ()
        choices: list[Choice] = []
        for index, item in enumerate(raw):
            at = (*where, index)
            if not isinstance(item, dict) or "value" not in item:
                keys = ", ".join(("value", *self.pack.locales))
                self.error(at, "question_choices", f"expected {{{keys}}}")
                continue
            self._keys(item, at, ("value", *self.pack.locales), ())
            label = self._text({k: item.get(k) for k in self.pack.locales}, at, "")
            if label is not None:
                choices.append(Choice(item["value"], label))
        values = [c.value for c in choices]
        missing = [v for v in wanted if v not in values]
        extra = [v for v in values if v not in wanted]
        if missing or extra or len(set(map(repr, values))) != len(values):
            shown = ", ".join(repr(v) for v in wanted)
            self.error(
                where,
                "question_choices",
                f"the choices must be the schema's values, each once: {shown}"
                + (f"; missing {', '.join(map(repr, missing))}" if missing else "")
                + (f"; not in the schema {', '.join(map(repr, extra))}" if extra else ""),
            )
        return tuple(choices)

    def _coverage(
        self, questions: Mapping[str, QuestionSpec], implicit: Mapping[str, str], items: Any
    ) -> None:
        if LOANS not in questions:
            self.error(("questions",), "question_missing", f"no '{LOANS}' question")
        for name in fields_read(self.pack):
            if name in questions or name in implicit or name in LOAN_IDENTITY:
                continue
            self.error(
                ("questions",),
                "question_missing",
                f"the rules read '{name}' but no question asks for it",
                "add a question for it, or list it under interview.implicit with a reason",
            )


def _answer_type(spec: FactSpec) -> str:
    if spec.type == "list":
        return "choices"
    if spec.type == "boolean":
        return "boolean"
    if spec.type == "date":
        return "date"
    if spec.type == "text":
        return "choice" if spec.enum else "text"
    return {"money": "money", "percent": "percent"}.get(spec.unit, "integer")


def _schema_values(kind: Any, spec: FactSpec | None) -> list[Any] | None:
    """The values a question's choices must be, or None when it has no choices."""
    if kind == "loans":
        product = input_facts()["loan.product"]
        return list(product.enum or ())
    if spec is None:
        return None
    if kind == "boolean":
        return [True, False]
    if kind in ("choice", "choices") and spec.enum:
        return list(spec.enum)
    return None
