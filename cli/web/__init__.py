"""``xieshang serve``: the HTTP API and the borrower's page (docs/serve.md).

``cli.web.app`` builds the Starlette application (one per worker process, the rule pack loaded
once at start-up), ``cli.web.problems`` turns the library's errors into RFC 9457 problem details,
``cli.web.openapi`` writes the OpenAPI document from the project's JSON Schemas, and ``static/``
holds the page (HTML, CSS, JavaScript; no third-party assets).
"""
