"""The ground floor: values (``UNKNOWN``, canonical JSON), errors, source locations, the fact
vocabulary, the operator table, schemas, safe reading of a user's files and of YAML, what is
unsafe to show, output formats, locales and the engine's own words, the engine's JSON.
"""
