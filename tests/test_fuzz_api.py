"""schemathesis fuzzes every operation of both OpenAPI schemas of the real server (tiles of the score and
night-light routers, STAC API) with schema-conforming and schema-violating input: no 5xx (a request past
its time budget answers 503, so none is over it), no traceback, every error body one line.

Bounded: FUZZ_EXAMPLES cases per operation and mode (DEVSCORE_FUZZ_EXAMPLES overrides), half of them
with the ids of a real item so that the requests get past the catalog look-up, and FUZZ_SECONDS of wall
time per schema (DEVSCORE_FUZZ_SECONDS overrides) after which the remaining cases are not sent."""

from __future__ import annotations

import os
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

FUZZ_EXAMPLES = int(os.environ.get("DEVSCORE_FUZZ_EXAMPLES", "6"))
FUZZ_SECONDS = float(os.environ.get("DEVSCORE_FUZZ_SECONDS", "150"))
REAL_IDS = {"collection_id": "devscore-scores", "item_id": "48RVU-2023", "year": 2023,
            "tileMatrixSetId": "WebMercatorQuad"}


def _problem(response) -> str | None:
    """Why a response (schemathesis' own Response) breaks the rules, or None."""
    content_type = response.headers.get("content-type") or [""]
    textual = str(content_type[0] if isinstance(content_type, list) else content_type).startswith(
        ("application/json", "text/"))
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    if textual and "Traceback" in response.text[:100_000]:
        return "traceback in the body"
    if response.status_code >= 400 and response.text.strip().count("\n"):
        return f"multi-line error body: {response.text[:200]}"
    return None


def _fuzz(schema_url: str, base_url: str) -> tuple[list[str], int]:
    """Problems found, and the number of requests sent."""
    schema = schemathesis.openapi.from_url(schema_url)
    deadline = time.monotonic() + FUZZ_SECONDS
    problems: list[str] = []
    sent = [0]
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in REAL_IDS.items() if k in names}
        variants = [(GenerationMode.POSITIVE, fixed), (GenerationMode.NEGATIVE, fixed)]
        if fixed:
            variants.append((GenerationMode.POSITIVE, None))
        for mode, path_parameters in variants:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)

            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case):
                if time.monotonic() > deadline:
                    return
                try:
                    response = case.call(base_url=base_url, session=session, timeout=60)
                except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader, UnicodeError):
                    return  # the client cannot send it
                sent[0] += 1
                problem = _problem(response)
                if problem:
                    problems.append(f"{case.method} {case.formatted_path[:150]} {str(case.query)[:150]} "
                                    f"{str(case.body)[:100] if case.body is not None else ''} -> {problem}")

            try:
                run()
            except Unsatisfiable:  # nothing violates the schema of an operation without parameters
                pass
    return problems, sent[0]


@pytest.mark.slow
def test_fuzz_tile_server_schema(served_both):
    base, _ = served_both
    problems, sent = _fuzz(f"{base}/openapi.json", base)
    assert sent > 200 and problems == [], "\n".join(problems[:30])


@pytest.mark.slow
def test_fuzz_stac_api_schema(served_catalog):
    base, _ = served_catalog
    problems, sent = _fuzz(f"{base}/stac/api", f"{base}/stac")
    assert sent > 50 and problems == [], "\n".join(problems[:30])
