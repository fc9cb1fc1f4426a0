"""What a ``xieshang serve`` worker needs to know, passed to each worker process in one
environment variable (uvicorn starts workers by importing the application factory by name)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from engine import MAX_SITUATION_BYTES as MAX_BYTES

ENV = "XIESHANG_SERVE"  #: the environment variable carrying the settings, as JSON


@dataclass(frozen=True)
class Settings:
    rules: tuple[str, ...] = ()  #: pack directories; empty: the built-in pack
    max_body: int = MAX_BYTES  #: largest request body, in bytes (a situation's own limit)
    time_limit: float = 10.0  #: seconds an evaluation may take (then 503)
    client_timeout: float = (
        10.0  #: seconds a client may take to send a request's head, then its body
    )
    evaluations: int = 4  #: evaluations at once in one worker (durable_rules holds the GIL)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        text = os.environ.get(ENV)
        if not text:
            return cls()
        data = json.loads(text)
        data["rules"] = tuple(data.get("rules", ()))
        return cls(**data)
