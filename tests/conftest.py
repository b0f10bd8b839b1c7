"""Shared fixtures: the offline STAC schema folder, seeded chip-score grids, and a published catalog
served by a real `devscore serve` on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

#: The STAC extension schemas shipped beside the repository for offline validation.
SCHEMA_DIR = Path(os.environ.get("DEVSCORE_STAC_SCHEMAS", Path(__file__).resolve().parents[2] / "shared" / "stac-schemas"))


@pytest.fixture(scope="session")
def schema_dir() -> Path:
    """Folder of STAC extension schemas (``<extension>/<version>/schema.json``)."""
    if not (SCHEMA_DIR / "README.md").exists():
        pytest.fail(f"STAC extension schemas not found at {SCHEMA_DIR}; set DEVSCORE_STAC_SCHEMAS")
    return SCHEMA_DIR


#: Free space the suite needs where pytest keeps its temporary folders: the largest module's folders
#: (a published run with three models, about 1.2 GB) plus the largest single test's (a 10980 px scene and its chips).
NEEDED_FREE_GB = 3


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to start, in one line, on a disk too full for the suite, instead of hundreds of errors half-way."""
    base = session.config._tmp_path_factory.getbasetemp()
    free = shutil.disk_usage(base).free / 2**30
    if free < NEEDED_FREE_GB:
        pytest.exit(f"only {free:.1f} GB free under {base}; the tests need {NEEDED_FREE_GB} GB (free some space or "
                    f"set --basetemp elsewhere)", returncode=2)


@contextlib.contextmanager
def module_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  name: str) -> Iterator[Path]:
    """A temporary folder for a module-scoped fixture, removed when the module is done unless a test failed:
    the suite's largest folders (models, scenes) must not pile up until the session ends."""
    path = tmp_path_factory.mktemp(name)
    failed = request.session.testsfailed
    yield path
    if request.session.testsfailed == failed:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread: the test machine's cores are shared, and results must not depend on thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def chip_scores() -> np.ndarray:
    """A 32 x 32 float32 score grid in [0, 1] with a few chips missing (NaN)."""
    rng = np.random.default_rng(7)
    scores = rng.random((32, 32), dtype=np.float32)
    scores[0, 5] = scores[31, 31] = scores[10, 0] = np.nan
    return scores


#: Granule-years of the served test catalog: two adjacent tiles in 2023, one in 2022, and a tile that
#: crosses the antimeridian (Fiji) in 2023.
SERVED_GRANULES = (("48RVU", 2023), ("48RUU", 2023), ("48RVU", 2022), ("01KAB", 2023))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_catalog(catalog: Path, log_path: Path) -> Iterator[str]:
    """Run `devscore serve` on ``catalog`` at a free port until the block ends; yields its base URL. The
    server logs to ``log_path``, a file, not a pipe: a full pipe nobody reads would block the server."""
    port = free_port()
    exe = Path(sys.executable).parent / "devscore"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(exe), "serve", "--catalog", str(catalog), "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/layers", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail(f"server did not start: {log_path.read_text()[-3000:]}")
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def served_catalog(tmp_path_factory) -> tuple[str, Path]:
    """Publish SERVED_GRANULES (northern two chip rows unscored), run `devscore serve`; yields (base URL, catalog)."""
    from catalog.ingest import publish_table
    from publisher.scores import GranuleYear, scores_to_table

    tmp = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(11)
    granules = []
    for tile, year in SERVED_GRANULES:
        scores = rng.random((32, 32), dtype=np.float32)
        scores[:2, :] = np.nan
        granules.append(GranuleYear(tile, year, dt.datetime(year, 4, 1, tzinfo=dt.timezone.utc), None, scores))
    table = tmp / "scores.csv"
    scores_to_table(granules).to_csv(table, index=False)
    publish_table(table, tmp / "catalog", device="cpu", progress=False)
    with serve_catalog(tmp / "catalog", tmp / "serve.log") as base:
        yield base, tmp / "catalog"


@pytest.fixture(scope="session")
def demo_served(tmp_path_factory) -> tuple[str, Path]:
    """(base URL, catalog folder) of a demo-like catalog (scores, model, night lights and their report;
    tests/demo_like.py) served by `devscore serve` on 127.0.0.1, once per session."""
    from tests.demo_like import build_demo_like

    tmp = tmp_path_factory.mktemp("demo-like")
    catalog = build_demo_like(tmp)
    with serve_catalog(catalog, tmp / "serve.log") as base:
        yield base, catalog


@pytest.fixture(scope="session")
def served_both(tmp_path_factory) -> tuple[str, Path]:
    """A catalog with scores of 48RVU in 2022 and 2023, their change item, and ingested, compared night
    lights of 48RVU-2023 (every router has an item and a year or pair), served by `devscore serve`; yields (base URL, catalog)."""
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest
    from tests.nightlights_fixtures import publish_field_scores, write_vnl_like

    from catalog.change import publish_changes

    tmp = tmp_path_factory.mktemp("served-both")
    publish_field_scores(tmp, ("48RVU",), 2022, uncertainty=True)
    catalog = publish_field_scores(tmp, ("48RVU",), 2023, uncertainty=True)  # the uncertainty routes have items
    publish_changes(catalog)  # 48RVU-2022-2023: the change routes have an item and a pair
    ingest([write_vnl_like(tmp / "VNL_npp_2023_global.average.dat.tif", (103.7, 29.5, 105.35, 31.0), 2023)],
           2023, catalog)
    compare_catalog(catalog)
    with serve_catalog(catalog, tmp / "serve.log") as base:
        yield base, catalog


from tests.pgstac_db import pgstac_dsn, pgstac_server  # noqa: E402,F401  (PostgreSQL/pgstac for the pgstac tests)
