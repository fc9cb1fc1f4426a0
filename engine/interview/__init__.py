"""The guided interview (docs/interview.md): ask only the questions that can change the advice.

``next_questions`` evaluates a partial situation and lists the unknown inputs whose answers could
still change the top of the advice or the plan, computed from the rules' own three-valued
evaluation (``relevance``) and confirmed with the engine (``witness``), worded from the pack's
``questions.yaml`` (``book``). ``apply_answer`` and ``Interview`` take answers and "don't know";
``evaluate_partial`` gives the advice at any point.
"""

from __future__ import annotations

from engine.interview.book import QuestionBook, check_book, fields_read, load_book
from engine.interview.session import (
    Interview,
    Question,
    Replay,
    Step,
    apply_answer,
    check_partial,
    evaluate_partial,
    fields_read_for,
    forget,
    interview_next,
    next_questions,
    path_of,
    replay,
    value_at,
)
from engine.interview.witness import Witness

__all__ = [
    "Interview",
    "Question",
    "QuestionBook",
    "Replay",
    "Step",
    "Witness",
    "apply_answer",
    "check_book",
    "check_partial",
    "evaluate_partial",
    "fields_read",
    "fields_read_for",
    "forget",
    "interview_next",
    "load_book",
    "next_questions",
    "path_of",
    "replay",
    "value_at",
]
