"""Why and why not, last stage: the explanation documents as plain text.

The renderers take the documents of ``explain``, ``compare`` and ``near_misses`` and read only
what they show as JSON (their ``as_dict()``): condition trees as indented lines marked ✓ ✗ ?,
with each failing leaf's flip under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.whynot.values import _named, show

if TYPE_CHECKING:
    from engine.whynot.nearmiss import NearMiss
    from engine.whynot.proofs import ExplainDocument
    from engine.whynot.ranking import CompareDocument

_MARK = {True: "✓", False: "✗", None: "?"}


def _leaf_text(node: dict[str, Any]) -> str:
    rhs = ""
    if node["op"] not in ("known", "unknown"):
        rhs = f" {node['param']}" if node["param"] else f" {show(node['expected'])}"
        if node["param"]:
            rhs += f" ({show(node['expected'])})"
    actual = show(node["actual"]) if node["known"] else "unknown"
    return f"{node['fact']} {node['op']}{rhs}   [actual: {actual}]"


def _condition_lines(node: dict[str, Any], indent: str) -> list[str]:
    mark = _MARK[node["result"]]
    if node["kind"] == "leaf":
        lines = [f"{indent}{mark} {_leaf_text(node)}  {node['location']}"]
        if "flip" in node:
            lines.append(f"{indent}    → {node['flip']['text']}")
        return lines
    lines = [f"{indent}{mark} {node['kind']}:"]
    for item in node["items"]:
        lines += _condition_lines(item, indent + "    ")
    return lines


def _loan_suffix(item: dict[str, Any]) -> str:
    return f", loan {item['loan_id']}" if item["loan_id"] is not None else ""


def _binding_head(item: dict[str, Any]) -> str:
    where = _loan_suffix(item)
    state = "fired" if item["fired"] else "did not fire"
    return f"rule {item['rule_id']} ({item['location']}, {item['source']}{where}): {state}"


def binding_lines(item: dict[str, Any], indent: str = "  ") -> list[str]:
    """A rule binding's explanation as indented lines (proof tree or why-not)."""
    lines = [f"{indent}← {_binding_head(item)}"]
    inner = indent + "    "
    if item.get("repeated"):
        lines[0] += " (explained above)"
        return lines
    con = item["consequence"]
    if con["kind"] == "derive" and item["fired"]:
        lines.append(f"{inner}derives {con['fact']} = {show(item.get('value'))}")
    if item["condition"] is None:
        lines.append(f"{inner}(no conditions: always applies)")
    else:
        lines += _condition_lines(item["condition"], inner)
    if not item["fired"] and item.get("to_fire"):
        lines.append(f"{inner}to make it fire:")
        lines += [f"{inner}  - {change['text']}" for change in item["to_fire"]]
    for derived in item["derived_from"]:
        fact = _named(derived["fact"], derived["loan_id"])
        lines.append(f"{inner}← derived fact {fact} = {show(derived['value'])}")
        for sub in derived["rules"]:
            lines += binding_lines(sub, inner + "  ")
    if item["inputs"]:
        shown = ", ".join(
            f"{_named(i['fact'], i['loan_id'])} = {show(i['value'])}" for i in item["inputs"]
        )
        lines.append(f"{inner}← inputs: {shown}")
    return lines


def render_explain_text(document: ExplainDocument | CompareDocument) -> str:
    return _explain_text(document.as_dict())


def _explain_text(doc: dict[str, Any]) -> str:
    if "compare" in doc:
        return _compare_text(doc)
    target = doc["target"]
    lines: list[str] = []
    state = doc.get("action")
    if target["kind"] == "action":
        assert state is not None
        head = f"{target['id']}: {state['status'].replace('_', ' ')}"
        if state["rank"] is not None:
            head += f", rank {state['rank']}, score {state['score']}"
            terms = " + ".join(
                f"{t['value']} ({t['term']}, {t['rule_id']})" for t in state["score_breakdown"]
            )
            head += f" = {terms}"
        lines.append(head)
    else:
        head = f"rule {target['id']}: {doc['status'].replace('_', ' ')}"
        if state is not None:
            head += f" (action {state['action']}: {state['status'].replace('_', ' ')})"
        lines.append(head)
    for item in doc["suppressed_by"]:
        lines.append(f"  suppressed by {item['rule_id']}: {item.get('reason', '')}")
        lines += binding_lines(item, "    ")
    if target["kind"] == "action" and not doc["explanations"]:
        lines.append(f"  no rule of {doc['ruleset']['name']} recommends {target['id']}")
    for item in doc["explanations"]:
        lines += binding_lines(item)
    return "\n".join(lines) + "\n"


def render_compare_text(document: CompareDocument) -> str:
    return _compare_text(document.as_dict())


def _compare_text(doc: dict[str, Any]) -> str:
    cmp = doc["compare"]
    a, b = cmp["a"], cmp["b"]
    lines = [cmp["summary"]]

    def cell(term: dict[str, Any] | None) -> str:
        return f"{term['value']:+d} {term['rule_id']}" if term else "-"

    def state(side: dict[str, Any]) -> str:
        if side["rank"] is None:
            return str(side["status"]).replace("_", " ")
        return f"rank {side['rank']}, score {side['score']}"

    cells = [cell(t["a"]) for t in cmp["terms"]] + [a["action"], state(a)]
    width = max(len(c) for c in cells)
    lines.append(f"  {'term':<12}{a['action']:<{width + 2}}{b['action']}")
    for term in cmp["terms"]:
        lines.append(f"  {term['term']:<12}{cell(term['a']):<{width + 2}}{cell(term['b'])}")
    lines.append(f"  {'total':<12}{state(a):<{width + 2}}{state(b)}")
    lines.append(
        f"  {'catalogue':<12}{'#' + str(a['catalogue_position']):<{width + 2}}"
        f"#{b['catalogue_position']}"
    )
    return "\n".join(lines) + "\n"


def render_near_misses_text(near_misses: Sequence[NearMiss], words: Mapping[str, str]) -> str:
    """The near-miss section appended to ``advise`` text and Markdown output (``words``: the
    engine's messages in the advice's locale, ``Pack.words``)."""
    items = [item.as_dict() for item in near_misses]
    if not items:
        return ""
    head = words["near_misses.heading"]
    lines = [head]
    for item in items:
        lines.append(f"  {item['action']} (rule {item['rule_id']}{_loan_suffix(item)})")
        lines += [f"    - {c['text']}" for c in item["changes"]]
    return "\n".join(lines) + "\n"
