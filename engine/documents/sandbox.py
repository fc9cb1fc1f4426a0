"""The template sandbox: Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``.

A pack's templates are data, written by people who do not write the engine: they see only the
plain context of ``engine.documents.context`` (strings, numbers, booleans, lists, mappings), they
cannot read a name that context does not have (``StrictUndefined``: an error, never an empty
string), and they cannot reach Python (no attribute or item starting with ``_``, refused when
the template is loaded; the sandbox refuses the rest when it renders). Templates cannot include
or import other files (there is no loader).

Markdown templates escape every value they print with ``engine.core.safetext.markdown``: a lender's
name with ``*``, ``<script>`` or ``{{ }}`` in it is shown as those characters, never as markup.
The HTML layout autoescapes; the Markdown it receives was made by markdown-it with raw HTML off.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from engine.core.safetext import markdown
from engine.documents.context import CONTEXT_NAMES


@dataclass(frozen=True)
class TemplateProblem(Exception):
    message: str
    line: int = 0


def _markdown_value(value: Any) -> str:
    """What ``{{ value }}`` prints in a Markdown template: the value as literal text."""
    if value is None:
        return ""
    return markdown(str(value))


def template_environment() -> dict[str, SandboxedEnvironment]:
    """The two sandboxes: Markdown templates (values escaped as Markdown text) and the HTML
    layout (autoescaped). Neither has a loader: no template can read another file."""
    common: dict[str, Any] = {
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "loader": None,
        "auto_reload": False,
    }
    # immutable: no template can change the context (``loans.append``) that the next one sees
    md = ImmutableSandboxedEnvironment(autoescape=False, finalize=_markdown_value, **common)
    html = ImmutableSandboxedEnvironment(autoescape=True, **common)
    for env in (md, html):
        env.filters.pop("safe", None)  # nothing a template prints may skip escaping
        env.globals.clear()  # no range, lipsum, dict, cycler, joiner, namespace
    return {"md": md, "html": html}


def compile_template(envs: dict[str, SandboxedEnvironment], source: str, file: str) -> Any:
    """Parse and check one template; raises TemplateProblem with the line of the first problem.

    Refused before any rendering: syntax errors, names the context does not have, attributes or
    items that start with ``_`` (Python internals), ``include``/``import``/``extends``.
    """
    env = envs["html" if file.endswith(".html.j2") else "md"]
    try:
        tree = env.parse(source, file, file)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax: {exc.message}", exc.lineno or 0) from None
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = access.attr if isinstance(access, nodes.Getattr) else _const(access)
        if isinstance(attr, str) and attr.startswith("_"):
            raise TemplateProblem(
                f"{attr!r}: names starting with '_' are Python internals and not allowed",
                access.lineno,
            )
    for statement in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise TemplateProblem(
            "templates cannot include, import or extend other files", statement.lineno
        )
    allowed = CONTEXT_NAMES | ({"body", "title", "lang"} if file.endswith(".html.j2") else set())
    for name in sorted(meta.find_undeclared_variables(tree) - allowed):
        line = next(
            (n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"), 0
        )
        raise TemplateProblem(
            f"unknown name {name!r}: templates see only {', '.join(sorted(allowed))}", line
        )
    code = env.compile(tree, file, file)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def _const(item: Any) -> Any:
    """The key of ``x["key"]`` when it is written as a constant."""
    return item.arg.value if isinstance(item.arg, nodes.Const) else None


def render_template(template: Any, context: dict[str, Any], file: str) -> str:
    """Render; a template error (an unknown field, the sandbox refusing something) becomes a
    TemplateProblem naming the template's line."""
    try:
        return str(template.render(context))
    except jinja2.TemplateError as exc:
        line = 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == file and frame.lineno:
                line = frame.lineno
        message = exc.message or type(exc).__name__
        raise TemplateProblem(f"{type(exc).__name__}: {message}", line) from None
