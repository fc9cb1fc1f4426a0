"""Semantic checks of a rule pack, run after the schema pass, as a table of named stages.

Each stage reads the ``RawPack`` and a shared ``Context`` and returns ``RuleError``s. Order matters
where noted: derived facts must be known before conditions and templates can be checked.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from engine.core.errors import RuleError, did_you_mean
from engine.core.facts import UNIT_TYPES, FactSpec, FactType, Unit, input_facts, scope_of
from engine.core.locales import locale_errors, resolve_messages
from engine.core.operators import OPERATORS, Operand, operand_problem
from engine.core.source import Location
from engine.load.loader import RawPack
from engine.pack import expr
from engine.pack.catalogue import CATALOGUE
from engine.pack.model import (
    LOCALES,
    PLAN_LOAN_FIELDS,
    PLAN_STRATEGIES,
    ActionSpec,
    Adjust,
    Condition,
    CrisisSpec,
    Derive,
    DerivedFact,
    Group,
    Leaf,
    LocalText,
    Pack,
    PlanSpec,
    Recommend,
    Rule,
    Suppress,
)
from engine.pack.template import TemplateError, placeholders

if TYPE_CHECKING:
    from engine.core.yamlsource import SourceMap

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Context:
    """What the stages learn about the pack as they go."""

    raw: RawPack
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    facts: dict[str, FactSpec] = field(default_factory=dict)  #: inputs and derived
    derived: dict[str, DerivedFact] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)  #: with parameters substituted
    #: derived facts whose type could not be worked out (their own rules have errors)
    unresolved: set[str] = field(default_factory=set)
    plan: PlanSpec | None = None  #: the pack's ``plan:`` once it checked clean
    crisis: CrisisSpec | None = None  #: the pack's ``crisis:`` once it checked clean
    locales: tuple[str, ...] = LOCALES  #: the pack's ``locales:``, the default first
    messages: dict[str, dict[str, str]] = field(default_factory=dict)  #: locale → key → text


Stage = Callable[[Context], list[RuleError]]


def check_pack_manifest(ctx: Context) -> list[RuleError]:
    packs = ctx.raw.packs
    if not packs:
        if ctx.raw.unreadable:
            return []  # the file meant to declare it may be one that could not be read
        root = ctx.raw.roots[0] if ctx.raw.roots else "."
        return [
            RuleError(
                Location(root),
                "pack_missing",
                "no file declares 'pack:'",
                "add pack.yaml with 'pack: {name: ..., version: ...}'",
            )
        ]
    return [
        RuleError(
            loc,
            "pack_duplicate",
            "'pack:' is declared more than once",
            f"first declared at {packs[0][1]}",
        )
        for _, loc in packs[1:]
    ]


def check_locales(ctx: Context) -> list[RuleError]:
    """Every text of the rules and of the plan is written in exactly the pack's ``locales:``."""
    if ctx.raw.packs:
        ctx.locales = tuple(ctx.raw.packs[0][0].get("locales", LOCALES))
    errors: list[RuleError] = []
    for rule in ctx.raw.rules:
        for path, text in _texts(rule):
            label = f"rule '{rule.id}' {'.'.join(path)}"
            errors.extend(
                locale_errors(
                    text, ctx.locales, label, functools.partial(ctx.raw.locate, rule, *path)
                )
            )
    if ctx.raw.packs and "plan" in ctx.raw.packs[0][0]:
        plan, smap = ctx.raw.packs[0][0]["plan"], ctx.raw.pack_maps[0]
        named = [(("name",), plan["name"])] if "name" in plan else []
        for path, text in [*named, *((("why", c), t) for c, t in plan.get("why", {}).items())]:
            errors.extend(
                locale_errors(
                    text,
                    ctx.locales,
                    "plan." + ".".join(path),
                    functools.partial(_locate_under, smap, ("pack", "plan", *path)),
                )
            )
    return errors


def check_messages(ctx: Context) -> list[RuleError]:
    """Every locale of the pack has every engine message (the pack's ``messages/`` over the
    engine's, ``engine.core.locales``)."""
    if not ctx.raw.packs:
        return []
    smap = ctx.raw.pack_maps[0]
    declared = "locales" in ctx.raw.packs[0][0]
    at = smap.locate(("pack", "locales") if declared else ("pack",))
    ctx.messages, errors = resolve_messages(ctx.locales, ctx.raw.messages, at)
    return errors


def _locate_under(smap: SourceMap, path: tuple[str, ...], *keys: str) -> Location:
    return smap.locate((*path, *keys))


def check_actions(ctx: Context) -> list[RuleError]:
    errors: list[RuleError] = []
    for code, meaning, _ in CATALOGUE:
        ctx.actions[code] = ActionSpec(code, meaning, len(ctx.actions))
    for manifest, loc in ctx.raw.packs[:1]:
        for extra in manifest.get("actions", []):
            if extra["code"] in ctx.actions:
                errors.append(
                    RuleError(
                        loc,
                        "pack_action_exists",
                        f"action '{extra['code']}' is already in the catalogue",
                    )
                )
                continue
            ctx.actions[extra["code"]] = ActionSpec(
                extra["code"], extra["meaning"], len(ctx.actions)
            )
    for rule in ctx.raw.rules:
        action = getattr(rule.then, "action", None)
        if action is not None and action not in ctx.actions:
            errors.append(
                RuleError(
                    rule.location,
                    "rule_unknown_action",
                    f"rule '{rule.id}': unknown action '{action}'",
                    did_you_mean(action, ctx.actions),
                )
            )
    return errors


def check_unique_ids(ctx: Context) -> list[RuleError]:
    seen: dict[str, Location] = {}
    errors: list[RuleError] = []
    for rule in ctx.raw.rules:
        if rule.id in seen:
            errors.append(
                RuleError(
                    rule.location,
                    "rule_duplicate_id",
                    f"rule id '{rule.id}' is used twice",
                    f"first used at {seen[rule.id]}",
                )
            )
        else:
            seen[rule.id] = rule.location
    return errors


def check_derived_facts(ctx: Context) -> list[RuleError]:
    """Register derived facts, then parse and type-check every derive expression."""
    ctx.facts.update(input_facts())
    errors: list[RuleError] = []
    derivers: dict[str, list[Rule]] = {}
    for rule in ctx.raw.rules:
        if isinstance(rule.then, Derive):
            where = ctx.raw.locate(rule, "derive", "fact")
            errors.extend(_check_derive_target(rule, rule.then, where))
            derivers.setdefault(rule.then.fact, []).append(rule)
    for name in derivers:
        if name not in ctx.facts:
            ctx.facts[name] = FactSpec(name, "number", "number", scope_of(name), derived=True)
    types = _TypeResolver(ctx, derivers)
    for name, rules in derivers.items():
        errors.extend(types.register(name, rules))
    return errors


def _check_derive_target(rule: Rule, derive: Derive, where: Location) -> list[RuleError]:
    if derive.fact in input_facts():
        return [
            RuleError(
                where,
                "rule_derive_input",
                f"rule '{rule.id}' derives '{derive.fact}', which is an input fact",
                "give the derived fact its own name",
            )
        ]
    if scope_of(derive.fact) == "loan" and rule.about != "loan":
        return [
            RuleError(
                where,
                "rule_scope",
                f"rule '{rule.id}' derives per-loan fact '{derive.fact}'",
                "add 'about: loan'",
            )
        ]
    if scope_of(derive.fact) == "situation" and rule.about == "loan":
        return [
            RuleError(
                where,
                "rule_scope",
                f"rule '{rule.id}' is about loans but derives situation fact '{derive.fact}'",
                f"name it 'loan.{derive.fact}'",
            )
        ]
    return []


class _TypeResolver:
    """Infers the type of each derived fact from its expressions, following references."""

    def __init__(self, ctx: Context, derivers: dict[str, list[Rule]]) -> None:
        self.ctx = ctx
        self.derivers = derivers
        self.types: dict[str, str | None] = {}
        self.visiting: set[str] = set()

    def type_of(self, name: str) -> expr.Type | None:
        if name.startswith("params."):
            param = self.ctx.raw.parameters.get(name.removeprefix("params."))
            return _param_type(param.value) if param else None
        if name in self.derivers:
            return self._derived_type(name)  # type: ignore[return-value]
        spec = self.ctx.facts.get(name)
        return spec.type if spec else None

    def _derived_type(self, name: str) -> str | None:
        if name in self.types:
            return self.types[name]
        if name in self.visiting:
            return None  # a cycle: check_cycles reports it
        self.visiting.add(name)
        found = None
        for rule in self.derivers[name]:
            found = found or self._infer(rule)
        self.visiting.discard(name)
        self.types[name] = found
        return found

    def _infer(self, rule: Rule) -> str | None:
        assert isinstance(rule.then, Derive)
        if rule.then.syntax_error:
            return None
        try:
            return expr.infer_type(rule.then.expr, self.type_of, in_loan_scope=_loan_scope(rule))
        except expr.ExprTypeError:
            return None

    def register(self, name: str, rules: list[Rule]) -> list[RuleError]:
        errors: list[RuleError] = []
        seen: tuple[str, str] | None = None
        first: Rule | None = None
        for rule in rules:
            assert isinstance(rule.then, Derive)
            found = self._check_expression(rule, rule.then)
            if isinstance(found, RuleError):
                errors.append(found)
                continue
            if found is None:
                continue  # it reads a derived fact that is in a cycle or has errors of its own
            unit = rule.then.unit or _default_unit(found)
            if UNIT_TYPES[unit] != found and not (found == "list" and unit == "text"):
                errors.append(
                    RuleError(
                        self.ctx.raw.locate(rule, "derive", "unit"),
                        "rule_derive_unit",
                        f"rule '{rule.id}': unit '{unit}' does not fit a {found} value",
                        f"units for a {found}: {', '.join(_units_for(found))}",
                    )
                )
                continue
            if first and seen and seen != (found, unit):
                errors.append(
                    RuleError(
                        rule.location,
                        "rule_derive_conflict",
                        f"rule '{rule.id}' derives '{name}' as {found} ({unit});"
                        f" rule '{first.id}' derives it as {seen[0]} ({seen[1]})",
                        f"'{first.id}' is at {first.location}",
                    )
                )
                continue
            seen, first = (found, unit), first or rule
        if not seen:
            self.ctx.unresolved.add(name)
        if seen:
            fact_type, unit = cast(FactType, seen[0]), cast(Unit, seen[1])
            summary = any(isinstance(r.then, Derive) and r.then.summary for r in rules)
            self.ctx.facts[name] = FactSpec(name, fact_type, unit, scope_of(name), derived=True)
            rule_ids = tuple(r.id for r in rules)
            self.ctx.derived[name] = DerivedFact(name, fact_type, unit, rule_ids, summary)
        return errors

    def _check_expression(self, rule: Rule, derive: Derive) -> str | RuleError | None:
        """The expression's type, its error, or None when that rests on an unresolved fact."""
        loc = _derive_location(rule)
        if derive.syntax_error is not None:
            column, message = derive.syntax_error
            return RuleError(
                _shift(loc, column),
                "rule_expression_syntax",
                f"rule '{rule.id}': {_in_expression(message)}",
            )
        try:
            return expr.infer_type(derive.expr, self.type_of, in_loan_scope=_loan_scope(rule))
        except expr.ExprTypeError as exc:
            hint = ""
            unknown = re.search(r"unknown fact '([^']+)'", exc.message)
            if unknown and unknown.group(1) in self.derivers:
                return None  # derived, but untyped: its cycle or its own error is reported
            if unknown:
                hint = did_you_mean(unknown.group(1), [*self.ctx.facts, *self._param_names()])
            return RuleError(
                _shift(loc, exc.column),
                "rule_expression_type",
                f"rule '{rule.id}': {_in_expression(exc.message)}",
                hint,
            )

    def _param_names(self) -> list[str]:
        return [f"params.{p}" for p in self.ctx.raw.parameters]


def _loan_scope(rule: Rule) -> bool:
    """Whether a rule is checked per loan: ``about: loan``, or deriving a ``loan.`` fact (when
    ``about`` is missing, that is reported once, not again for every loan fact it reads)."""
    return rule.about == "loan" or (
        isinstance(rule.then, Derive) and scope_of(rule.then.fact) == "loan"
    )


def _in_expression(message: str) -> str:
    """Columns in expression messages count from the expression's start: say so."""
    return re.sub(r"\bat column (\d+)", r"at column \1 of the expression", message)


def _units_for(fact_type: str) -> list[str]:
    return [u for u, t in UNIT_TYPES.items() if t == fact_type] or ["text"]


def _derive_location(rule: Rule) -> Location:
    assert isinstance(rule.then, Derive)
    return rule.then.location


def _shift(loc: Location, column: int) -> Location:
    """Point into the expression: its column, counted from where the YAML value starts."""
    return Location(loc.file, loc.line, loc.column + max(column - 1, 0)) if loc.line else loc


def _default_unit(fact_type: str) -> Any:
    return {"number": "number", "date": "date", "boolean": "boolean"}.get(fact_type, "text")


def _param_type(value: Any) -> expr.Type:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    return "date" if _is_date(value) else "text"


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_conditions(ctx: Context) -> list[RuleError]:
    """Every leaf names a known fact in scope, an operator that fits it and a value of its type."""
    errors: list[RuleError] = []
    for rule in ctx.raw.rules:
        problems: list[RuleError] = []
        when = _resolve(rule.when, rule, ctx, problems) if rule.when else None
        errors.extend(problems)
        ctx.rules.append(dataclasses.replace(rule, when=when))
    return errors


def _resolve(cond: Condition, rule: Rule, ctx: Context, out: list[RuleError]) -> Condition:
    if isinstance(cond, Group):
        items = tuple(_resolve(c, rule, ctx, out) for c in cond.items)
        return dataclasses.replace(cond, items=items)
    problem = _check_leaf(cond, rule, ctx)
    if isinstance(problem, RuleError):
        out.append(problem)
        return cond
    return dataclasses.replace(cond, expected=problem)


def _check_leaf(leaf: Leaf, rule: Rule, ctx: Context) -> Any:
    """The leaf's expected value, or the RuleError that explains what is wrong with it."""
    spec = ctx.facts.get(leaf.fact)
    where = f"rule '{rule.id}'"
    if spec is None:
        return RuleError(
            leaf.location,
            "rule_unknown_fact",
            f"{where}: unknown fact '{leaf.fact}'",
            did_you_mean(leaf.fact, ctx.facts),
        )
    if spec.scope == "loan" and rule.about != "loan":
        return RuleError(
            leaf.location,
            "rule_scope",
            f"{where}: '{leaf.fact}' is a per-loan fact in a situation rule",
            "add 'about: loan', or aggregate it with a derive (sum_loans, ...)",
        )
    if leaf.fact in ctx.unresolved:
        return leaf.expected  # its type is unknown: its deriving rules' errors are reported
    op = OPERATORS[leaf.op]
    if spec.type not in op.types:
        fitting = ", ".join(n for n, o in OPERATORS.items() if spec.type in o.types)
        return RuleError(
            leaf.location,
            "rule_operator_type",
            f"{where}: '{leaf.op}' does not apply to {spec.type} fact '{leaf.fact}'",
            f"operators for {spec.type}: {fitting}",
        )
    return _expected_value(leaf, spec, op.operand, rule, ctx)


def _expected_value(leaf: Leaf, spec: FactSpec, operand: Operand, rule: Rule, ctx: Context) -> Any:
    where = f"rule '{rule.id}'"
    given = leaf.param is not None or leaf.expected is not None
    if operand == "none":
        if given:
            return RuleError(
                leaf.location, "rule_value_unexpected", f"{where}: '{leaf.op}' takes no value"
            )
        return None
    if not given:
        return RuleError(
            leaf.location,
            "rule_value_missing",
            f"{where}: '{leaf.op}' needs a 'value' or a 'param'",
        )
    value = leaf.expected
    if leaf.param is not None:
        param = ctx.raw.parameters.get(leaf.param)
        if param is None:
            return RuleError(
                leaf.location,
                "rule_unknown_param",
                f"{where}: unknown parameter '{leaf.param}'",
                did_you_mean(leaf.param, ctx.raw.parameters),
            )
        value = param.value
    shape = operand_problem(operand, value)
    if shape is not None:
        return RuleError(
            leaf.location, "rule_value_type", f"{where}: '{leaf.op}' {shape}, got {value!r}"
        )
    for item in value if isinstance(value, list) else [value]:
        problem = _value_problem(item, spec)
        if problem:
            message, hint = problem
            return RuleError(
                leaf.location, "rule_value_type", f"{where}: {leaf.fact}: {message}", hint
            )
    return value


def _value_problem(value: Any, spec: FactSpec) -> tuple[str, str] | None:
    kind = spec.type
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"expected a number, got {value!r}", ""
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected true or false, got {value!r}", ""
    if kind == "date" and not _is_date(value):
        return f"expected a date 'YYYY-MM-DD', got {value!r}", ""
    if kind in ("text", "list"):
        if isinstance(value, bool):
            return (
                f"expected text, got {value!r}",
                "YAML reads yes/no/on/off/true/false as booleans: quote the value, e.g. 'yes'",
            )
        if not isinstance(value, str):
            return f"expected text, got {value!r}", ""
        if spec.enum and value not in spec.enum:
            hint = did_you_mean(value, spec.enum) or f"one of: {', '.join(spec.enum)}"
            return f"'{value}' is not a possible value", hint
    return None


def check_templates(ctx: Context) -> list[RuleError]:
    errors: list[RuleError] = []
    for rule in ctx.raw.rules:
        for path, text in _texts(rule):
            errors.extend(_check_template(rule, path, text, ctx))
    return errors


def _texts(rule: Rule) -> Iterator[tuple[tuple[str, ...], LocalText]]:
    """Each text of a rule, with its path in the rule (``("recommend", "message")``)."""
    yield ("title",), rule.title
    then = rule.then
    if isinstance(then, Recommend):
        yield ("recommend", "title"), then.title
        yield ("recommend", "message"), then.message
        if then.common is not None:
            yield ("recommend", "common"), then.common
    elif isinstance(then, Adjust | Suppress):
        yield (rule.kind, "reason"), then.reason


def _check_template(
    rule: Rule, path: tuple[str, ...], text: LocalText, ctx: Context
) -> list[RuleError]:
    errors: list[RuleError] = []
    label = ".".join(path)
    for locale, template in text.items():
        try:
            names = placeholders(template)
        except TemplateError as exc:
            errors.append(
                RuleError(
                    ctx.raw.locate(rule, *path, locale),
                    exc.code,
                    f"rule '{rule.id}' {label} ({locale}): {exc.message}",
                )
            )
            continue
        for name in names:
            problem = _placeholder_problem(name, rule, ctx, once=path[-1] == "common")
            if problem:
                errors.append(
                    RuleError(
                        ctx.raw.locate(rule, *path, locale),  # located only for a message
                        "rule_placeholder",
                        f"rule '{rule.id}' {label} ({locale}): {problem[0]}",
                        problem[1],
                    )
                )
    return errors


def _placeholder_problem(
    name: str, rule: Rule, ctx: Context, once: bool = False
) -> tuple[str, str] | None:
    if name.startswith("params."):
        if name.removeprefix("params.") in ctx.raw.parameters:
            return None
        return f"unknown parameter '{name}'", did_you_mean(name, _param_names(ctx))
    if name not in ctx.facts:
        return f"unknown fact '{{{name}}}'", did_you_mean(name, [*ctx.facts, *_param_names(ctx)])
    if scope_of(name) == "loan" and rule.about != "loan":
        return f"'{{{name}}}' is per loan but the rule is about the situation", "add 'about: loan'"
    if scope_of(name) == "loan" and once:
        return (
            f"'{{{name}}}' is per loan but common is said once for all loans",
            "use it in message",
        )
    return None


def _param_names(ctx: Context) -> list[str]:
    return [f"params.{p}" for p in ctx.raw.parameters]


def check_plan(ctx: Context) -> list[RuleError]:
    """The pack's ``plan:`` names derived facts of the right scope and unit; the strategy fact
    only takes the strategies of SPEC §7.2; every reason code its rules can derive has a
    ``why`` sentence, and every sentence is a valid template over situation and loan facts."""
    if not ctx.raw.packs or "plan" not in ctx.raw.packs[0][0]:
        return []
    spec: dict[str, Any] = ctx.raw.packs[0][0]["plan"]
    smap = ctx.raw.pack_maps[0]
    errors: list[RuleError] = []

    def error(path: tuple[str, ...], code: str, message: str, hint: str = "") -> None:
        errors.append(RuleError(smap.locate(("pack", "plan", *path)), code, message, hint))

    wanted: list[tuple[tuple[str, ...], str, Unit, str]] = [
        (("budget",), spec["budget"], "money", "situation"),
        (("allocated",), spec["allocated"], "money", "situation"),
    ]
    wanted += [(("loan", k), spec["loan"][k], u, "loan") for k, u in PLAN_LOAN_FIELDS.items()]
    if "name" in spec:
        wanted += [(("name", loc), name, "text", "loan") for loc, name in spec["name"].items()]
    for path, name, unit, scope in wanted:
        fact = ctx.facts.get(name)
        label = "plan." + ".".join(path)
        if fact is None:
            hint = did_you_mean(name, [f for f in ctx.facts if scope_of(f) == scope])
            error(path, "plan_unknown_fact", f"{label}: unknown fact '{name}'", hint)
        elif name in ctx.unresolved:
            continue  # its own rules have errors, reported there
        elif scope_of(name) != scope:
            where = "a per-loan fact (loan.*)" if scope == "loan" else "a situation fact"
            error(path, "plan_fact_scope", f"{label}: '{name}' is not {where}")
        elif name in ctx.derived and ctx.derived[name].unit != unit:
            have = ctx.derived[name].unit
            error(path, "plan_fact_unit", f"{label}: '{name}' has unit {have}, not {unit}")
        elif name not in ctx.derived and fact.unit != unit:
            error(path, "plan_fact_unit", f"{label}: '{name}' has unit {fact.unit}, not {unit}")
    why: dict[str, LocalText] = {}
    for code, text in spec.get("why", {}).items():
        why[code] = LocalText.of(text)
        for locale, template in why[code].items():
            _check_plan_template(ctx, code, locale, template, error)
    for field_name, allowed, what in (
        ("strategy", PLAN_STRATEGIES, "strategy"),
        ("why", tuple(why), "reason code with a 'why' sentence"),
    ):
        for rule in ctx.raw.rules:
            then = rule.then
            if not isinstance(then, Derive) or then.fact != spec["loan"][field_name]:
                continue
            if then.syntax_error is None:
                for value in _text_literals(then.expr):
                    if value not in allowed:
                        errors.append(
                            RuleError(
                                ctx.raw.locate(rule, "derive", "value"),
                                "plan_value",
                                f"rule '{rule.id}' derives {spec['loan'][field_name]} = '{value}',"
                                f" which is not a {what}",
                                did_you_mean(value, allowed),
                            )
                        )
    if not errors:
        named = LocalText.of(spec["name"]) if "name" in spec else None
        ctx.plan = PlanSpec(spec["budget"], spec["allocated"], dict(spec["loan"]), why, named)
    return errors


def check_crisis(ctx: Context) -> list[RuleError]:
    """The pack's ``crisis:`` names a boolean situation fact and actions the pack knows."""
    if not ctx.raw.packs or "crisis" not in ctx.raw.packs[0][0]:
        return []
    spec: dict[str, Any] = ctx.raw.packs[0][0]["crisis"]
    smap = ctx.raw.pack_maps[0]
    errors: list[RuleError] = []
    when = spec["when"]
    fact = ctx.facts.get(when)
    problem = ""
    if fact is None:
        problem = f"crisis.when: unknown fact '{when}'"
        hint = did_you_mean(when, [f for f in ctx.facts if scope_of(f) == "situation"])
    elif scope_of(when) != "situation" or fact.type != "boolean":
        problem, hint = f"crisis.when: '{when}' is not a boolean situation fact", ""
    if problem:
        location = smap.locate(("pack", "crisis", "when"))
        errors.append(RuleError(location, "pack_crisis", problem, hint))
    for index, action in enumerate(spec["actions"]):
        if action not in ctx.actions:
            errors.append(
                RuleError(
                    smap.locate(("pack", "crisis", "actions", index)),
                    "pack_crisis",
                    f"crisis.actions: unknown action '{action}'",
                    did_you_mean(action, ctx.actions),
                )
            )
    if not errors:
        ctx.crisis = CrisisSpec(when, tuple(spec["actions"]))
    return errors


def _text_literals(node: expr.Node) -> Iterator[str]:
    """The text literals an expression may take as its value (the branches of ``if`` and
    ``coalesce``; a bare literal)."""
    if isinstance(node, expr.Literal_) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, expr.Call) and node.func in ("if", "coalesce"):
        for arg in node.args[1:] if node.func == "if" else node.args:
            yield from _text_literals(arg)


def _check_plan_template(
    ctx: Context,
    code: str,
    locale: str,
    template: str,
    error: Callable[[tuple[str, ...], str, str, str], None],
) -> None:
    """Report (through ``error``) a why sentence that is not a valid template over known facts."""
    path = ("why", code, locale)
    try:
        names = placeholders(template)
    except TemplateError as exc:
        error(path, exc.code, f"plan.why.{code} ({locale}): {exc.message}", "")
        return
    for name in names:
        if name.startswith("params."):
            if name.removeprefix("params.") not in ctx.raw.parameters:
                hint = did_you_mean(name, _param_names(ctx))
                error(
                    path, "rule_placeholder", f"plan.why.{code} ({locale}): unknown '{name}'", hint
                )
        elif name not in ctx.facts:
            hint = did_you_mean(name, [*ctx.facts, *_param_names(ctx)])
            error(
                path,
                "rule_placeholder",
                f"plan.why.{code} ({locale}): unknown fact '{{{name}}}'",
                hint,
            )


def check_cycles(ctx: Context) -> list[RuleError]:
    """Derived facts may build on each other, but never in a circle."""
    graph = dependency_graph(ctx.rules)
    errors: list[RuleError] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    by_fact = {r.then.fact: r for r in ctx.rules if isinstance(r.then, Derive)}

    def visit(fact: str, trail: list[str]) -> None:
        state[fact] = 1
        for dep in sorted(graph.get(fact, ())):
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep] if dep in trail else [fact, dep]
                errors.append(
                    RuleError(
                        by_fact[fact].location,
                        "rule_cycle",
                        "derived facts form a cycle: " + " → ".join(cycle),
                    )
                )
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[fact] = 2

    for fact in sorted(graph):
        if fact not in state:
            visit(fact, [fact])
    return errors


def dependency_graph(rules: list[Rule]) -> dict[str, set[str]]:
    """derived fact → the derived facts that its deriving rules read."""
    derived = {r.then.fact for r in rules if isinstance(r.then, Derive)}
    graph: dict[str, set[str]] = {name: set() for name in derived}
    for rule in rules:
        if isinstance(rule.then, Derive):
            graph[rule.then.fact] |= {f for f in facts_read(rule) if f in derived}
    return graph


def facts_read(rule: Rule) -> list[str]:
    """Every fact a rule's conditions and derive expression read, in order, without repeats."""
    names = [leaf.fact for leaf in leaves(rule.when)] if rule.when else []
    if isinstance(rule.then, Derive) and rule.then.syntax_error is None:
        names += [n for n, _ in expr.names(rule.then.expr)]
    return list(dict.fromkeys(n for n in names if not n.startswith("params.")))


def leaves(cond: Condition | None) -> Iterator[Leaf]:
    if cond is None:
        return
    if isinstance(cond, Leaf):
        yield cond
        return
    for item in cond.items:
        yield from leaves(item)


#: The stages, in order. Derived facts must be registered before conditions and templates are
#: checked; cycles are looked for last, on the rules with parameters substituted.
STAGES: tuple[tuple[str, Stage], ...] = (
    ("pack_manifest", check_pack_manifest),
    ("locales", check_locales),
    ("messages", check_messages),
    ("unique_ids", check_unique_ids),
    ("actions", check_actions),
    ("derived_facts", check_derived_facts),
    ("conditions", check_conditions),
    ("templates", check_templates),
    ("plan", check_plan),
    ("crisis", check_crisis),
    ("cycles", check_cycles),
)


def check_pack(
    raw: RawPack, digest: str, roots: tuple[str, ...]
) -> tuple[Pack | None, list[RuleError]]:
    ctx = Context(raw)
    errors = list(raw.errors)
    for _name, stage in STAGES:
        errors.extend(stage(ctx))
    if errors:
        return None, errors
    manifest = raw.packs[0][0]
    pack = Pack(
        name=manifest["name"],
        version=manifest["version"],
        description=manifest.get("description", ""),
        digest=digest,
        files=tuple(f.display for f in raw.files),
        rules=tuple(ctx.rules),
        parameters=dict(raw.parameters),
        actions=dict(ctx.actions),
        derived=dict(ctx.derived),
        roots=roots,
        plan=ctx.plan,
        crisis=ctx.crisis,
        locales=ctx.locales,
        messages=ctx.messages,
    )
    return pack, []


def fact_specs(pack: Pack) -> Mapping[str, FactSpec]:
    """Input and derived facts of a checked pack."""
    facts = dict(input_facts())
    for name, d in pack.derived.items():
        facts[name] = FactSpec(name, d.type, d.unit, scope_of(name), derived=True)  # type: ignore[arg-type]
    return facts
