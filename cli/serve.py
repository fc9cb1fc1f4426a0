"""``xieshang serve``: the HTTP API and the borrower's page on uvicorn (docs/serve.md).

The pack is loaded and checked here first, so bad ``--rules`` is exit 2 with every error before
any port is opened; each worker then loads it once (from the compiled-pack cache).
"""

from __future__ import annotations

import copy
import os
from typing import Annotated, Any

import typer

from cli.app import RulesOption, _load, app, reported

MAX_WORKERS = 64  #: as ``batch --workers``: more processes than cores gains nothing


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the application's own logger (request lines with digests only)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["xieshang.serve"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
    rules: RulesOption = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=MAX_WORKERS, metavar="N", help="Worker processes (1-64)."
        ),
    ] = 1,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=0.001,
            max=600,
            metavar="SECONDS",
            help="Longest an evaluation may take (then 503).",
        ),
    ] = 10.0,
    client_timeout: Annotated[
        float,
        typer.Option(
            "--client-timeout",
            min=0.001,
            max=600,
            metavar="SECONDS",
            help="Longest a client may take to send a request's headers, and then its body.",
        ),
    ] = 10.0,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="Log each request line (no bodies)."),
    ] = True,
) -> None:
    """Serve the HTTP API (/v1/...) and the borrower's page (/)."""
    import uvicorn

    from cli.web.protocol import GuardedH11Protocol
    from cli.web.settings import ENV, Settings

    with reported():
        ruleset = _load(rules)  # exit 2 with every error, before a port is opened
        ruleset.close()
    settings = Settings(
        rules=tuple(str(p) for p in rules or ()),
        time_limit=time_limit,
        client_timeout=client_timeout,
    )
    os.environ[ENV] = settings.to_env()  # worker processes inherit it
    uvicorn.run(
        "cli.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=GuardedH11Protocol,
        lifespan="on",
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # a request head larger than 16 KiB: 400
        access_log=access_log,
        log_config=log_config(),
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
