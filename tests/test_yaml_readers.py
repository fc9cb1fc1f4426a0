"""The two YAML readers of ``engine.core.yamlsource`` agree, and a plain file takes the fast one.

The fast reader builds a plain file's data from libyaml's events in one pass; anything it does not
accept (aliases, tags, duplicate or non-text keys, numbers out of range, deep nesting, several
documents, bad syntax) goes to the careful reader, which composes nodes and makes every message.
So for every input the result — data, positions, refused paths, errors — must be what the
careful reader alone gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core import yamlsource
from engine.core.yamlsource import MAX_DEPTH, load_yaml
from tests.packgen import generate_pack

pytestmark = pytest.mark.skipif(
    getattr(yaml, "CSafeLoader", None) is None, reason="PyYAML without libyaml: one reader only"
)

SNIPPETS = {
    "plain rule": b"rules:\n  - id: r1\n    title: {en: A, zh-CN: \xe4\xb8\x80}\n    when:\n"
    b"      all:\n        - {fact: loan.days_overdue, op: '>', value: 30}\n",
    "quoted values": b"a: 'x'\nb: \"y\"\nc: z\nd:\n  - 'q'\n  - \"r\"\n",
    "block scalars": b"a: |\n  line one\n  line two\nb: >\n  folded\n  text\n",
    "flow": b"{a: [1, 2, {b: c}], d: []}\n",
    "numbers": b"a: 1\nb: -2.5\nc: 0x1F\nd: 1_000\ne: 1:30\nf: 1.5e3\ng: 1e3\nh: 0o17\n",
    "infinity": b"a: .inf\n",
    "booleans and nulls": b"a: yes\nb: No\nc: ~\nd:\ne: null\nf: true\ng: 'true'\n",
    "dates": b"a: 2026-11-28\nb: 2026-11-28T10:00:00Z\nc: '2026-11-28'\n",
    "cjk columns": "名称: 借呗\n说明: '逾期 30 天'\n列表: [一, 二]\n".encode(),
    "empty file": b"",
    "comments only": b"# nothing\n",
    "explicit document": b"---\na: 1\n...\n",
    "empty document": b"---\n",
    "scalar document": b"just text\n",
    "two documents": b"a: 1\n---\nb: 2\n",
    "anchor and alias": b"a: &x [1, 2]\nb: *x\n",
    "python tag": b"a: !!python/object/apply:os.system ['true']\n",
    "explicit core tag": b"a: !!str 12\nb: !!int '7'\n",
    "local tag": b"a: !thing x\n",
    "merge key": b"a: &x {b: 1}\nc:\n  <<: *x\n",
    "value tag": b"a: =\n",
    "duplicate key": b"a: 1\nb: 2\na: 3\n",
    "integer key": b"1: one\n",
    "null key": b"~: nothing\n",
    "date key": b"2026-11-28: a day\n",
    "mapping key": b"? {a: 1}\n: x\n",
    "huge integer": b"a: 123456789012345678901234567890\n",
    "nan": b"a: .nan\n",
    "syntax error": b"a: [1, 2\nb: 3\n",
    "bad indentation": b"a:\n  b: 1\n c: 2\n",
    "tab": b"a:\n\tb: 1\n",
    "nesting at the limit": b"a: " + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"\n",
    "nesting past the limit": b"a: " + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"\n",
    "control character": b"a: \x07\n",
}


def careful(text: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any]:
    """What the careful reader alone gives (the fast one switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(yamlsource, "_read_plain", lambda _text, _source: yamlsource._FAILED)
        return load_yaml(text, "f.yaml")


def fast_reader_took(text: bytes) -> bool:
    source = yamlsource.SourceMap("f.yaml")
    return yamlsource._read_plain(text.decode("utf-8-sig"), source) is not yamlsource._FAILED


@pytest.mark.parametrize("text", SNIPPETS.values(), ids=SNIPPETS.keys())
def test_both_readers_give_the_same_data_positions_and_errors(
    text: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, source, errors = load_yaml(text, "f.yaml")
    data2, source2, errors2 = careful(text, monkeypatch)
    assert repr(data) == repr(data2)  # repr: 1 and True and 1.0 are told apart
    assert errors == errors2
    assert [str(e) for e in errors] == [str(e) for e in errors2]
    assert source.refused == source2.refused
    expected = source2.positions
    if fast_reader_took(text):  # the careful reader also notes each mapping's first key
        expected = {p: at for p, at in expected.items() if "<key>" not in p}
    assert source.positions == expected


def test_every_snippet_that_needs_the_careful_reader_gets_it() -> None:
    plain = {name for name, text in SNIPPETS.items() if fast_reader_took(text)}
    assert plain == {
        "plain rule",
        "quoted values",
        "block scalars",
        "flow",
        "numbers",
        "booleans and nulls",
        "dates",
        "cjk columns",
        "empty file",
        "comments only",
        "explicit document",
        "empty document",
        "scalar document",
        "nesting at the limit",
    }


def test_a_quoted_value_is_located_after_its_quote_and_its_key_at_the_key() -> None:
    _data, source, _errors = load_yaml(b"rules:\n  - value: 'x + 1'\n", "f.yaml")
    assert str(source.locate_value(("rules", 0, "value"))) == "f.yaml:2:13"
    assert str(source.locate(("rules", 0, "value"))) == "f.yaml:2:5"
    assert str(source.locate(("rules", 0, "value", "deeper"))) == "f.yaml:2:5"


def test_generated_pack_files_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_pack(tmp_path, 300)
    for path in sorted(tmp_path.glob("*.yaml")):
        text = path.read_bytes()
        data, source, errors = load_yaml(text, str(path))
        data2, source2, errors2 = careful(text, monkeypatch)
        assert (repr(data), errors) == (repr(data2), errors2)
        assert source.positions == {p: a for p, a in source2.positions.items() if "<key>" not in p}


def test_a_plain_rule_file_is_read_without_composing_a_node_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # composing builds a node (and two marks) per value and parses the file twice: a plain
    # file is read from the event stream once
    calls: list[str] = []
    real = yaml.compose

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("compose")
        return real(*args, **kwargs)

    monkeypatch.setattr(yaml, "compose", counted)
    load_yaml(SNIPPETS["plain rule"], "f.yaml")
    assert calls == []
    load_yaml(SNIPPETS["anchor and alias"], "f.yaml")  # the careful reader composes
    assert calls == ["compose"]
