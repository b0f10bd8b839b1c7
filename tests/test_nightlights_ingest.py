"""Night-light ingest and comparison on real files: VNL-like GeoTIFF (plain and gzipped) and
VNP46A4-like HDF5 tiles of one field agree; bad input is one error and leaves the catalog untouched."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from publisher.grid import TileGrid
from publisher.nightlights.products import NightLightsError
from tests.nightlights_fixtures import publish_field_scores, truncate, write_vnl_like, write_vnp46a4_like

TILE, YEAR = "48RVU", 2023
#: Around 48RVU (103.96..105.10 E, 29.74..30.73 N) with room for the clip margin.
AROUND = (103.7, 29.5, 105.35, 31.0)


@pytest.fixture(scope="module")
def score_catalog(tmp_path_factory) -> Path:
    """A published catalog with the score item 48RVU-2023 (scores: the development field plus noise)."""
    return publish_field_scores(tmp_path_factory.mktemp("scores"), (TILE,), YEAR)


@pytest.fixture
def catalog(score_catalog, tmp_path) -> Path:
    """A private copy of the score catalog."""
    return Path(shutil.copytree(score_catalog, tmp_path / "catalog"))


@pytest.fixture(scope="module")
def rasters(tmp_path_factory) -> dict[str, list[Path]]:
    """The same field as VNL-like .tif, .tif.gz, VNP46A4 collection 2 and 1 (two tiles each: 48RVU
    straddles latitude 30, the border of v05 and v06)."""
    tmp = tmp_path_factory.mktemp("rasters")
    c1, gz = tmp / "c1", tmp / "gz"
    c1.mkdir()
    gz.mkdir()
    return {
        "vnl": [write_vnl_like(tmp / f"VNL_npp_{YEAR}_global_vcmslcfg_v2_c202402081600.average.dat.tif", AROUND, YEAR)],
        "vnl_gz": [write_vnl_like(gz / f"VNL_npp_{YEAR}_global_vcmslcfg_v2_c202402081600.average.dat.tif", AROUND,
                                  YEAR, gz=True)],
        "vnp46a4": [write_vnp46a4_like(tmp, 28, v, YEAR, field_bbox=AROUND) for v in (5, 6)],
        "vnp46a4_c1": [write_vnp46a4_like(c1, 28, v, YEAR, collection=1, field_bbox=AROUND) for v in (5, 6)],
    }


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_ingest_writes_a_cog_item_linked_both_ways(catalog, rasters, schema_dir):
    from catalog.nightlights.ingest import ingest
    from catalog.validate import validate_catalog

    items = ingest(rasters["vnl_gz"], YEAR, catalog)
    assert [i.id for i in items] == ["48RVU-2023"]
    item_dir = catalog / "viirs-nightlights" / "48RVU-2023"
    doc = json.loads((item_dir / "48RVU-2023.json").read_text())
    cog = item_dir / doc["assets"]["radiance"]["href"]
    assert cog_validate(str(cog))[0]
    with rasterio.open(cog) as src:
        assert src.crs.to_epsg() == 4326 and src.res == pytest.approx((1 / 240, 1 / 240))
        # on the VNL grid: pixel centres at multiples of 15 arc-seconds
        assert (src.transform.c + 1 / 480) * 240 == pytest.approx(round((src.transform.c + 1 / 480) * 240), abs=1e-6)
        west, south, east, north = src.bounds
        tile_w, tile_s, tile_e, tile_n = TileGrid.from_tile_id(TILE).bbox
        assert west < tile_w - 0.04 and east > tile_e + 0.04 and south < tile_s - 0.04 and north > tile_n + 0.04
        data = src.read(1, masked=True)
        assert data.mask.any() and data.min() >= 0  # negative background became nodata, not 0
    band = doc["assets"]["radiance"]["raster:bands"][0]
    assert band["unit"] == "nW/cm2/sr" and band["statistics"]["minimum"] >= 0
    assert doc["properties"]["renders"]["default"]["rescale"] == [[0.0, 63.0]]
    assert doc["properties"]["devscore:nightlights_sources"] == [rasters["vnl_gz"][0].name]
    score = json.loads((catalog / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json").read_text())
    to_lights = [l for l in score["links"] if l["rel"] == "related"]
    score_dir = catalog / "devscore-scores" / "48RVU-2023"
    assert (score_dir / to_lights[0]["href"]).resolve() == item_dir / "48RVU-2023.json"
    back = [l for l in doc["links"] if l["rel"] == "related"]
    assert (item_dir / back[0]["href"]).resolve() == (catalog / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json")
    assert validate_catalog(catalog, schema_dir) == []


def _correlation(catalog: Path, files: list[Path]) -> dict:
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest

    ingest(files, YEAR, catalog)
    report = compare_catalog(catalog, YEAR)
    return report.rows[0].correlation.as_dict()


def test_products_of_the_same_field_give_the_same_correlations(catalog, rasters):
    results = {name: _correlation(catalog, files) for name, files in rasters.items()}
    reference = results["vnl"]
    assert reference["spearman"] > 0.5 and reference["pearson_log1p"] > 0.5
    for name, result in results.items():
        for key in ("pearson", "pearson_log1p", "spearman"):
            assert abs(result[key] - reference[key]) <= 0.02, (name, key, result, reference)
        assert abs(result["n"] - reference["n"]) <= 10, (name, result)
    assert reference["n"] < 1024 - 3  # unscored chips and the invalid patch are left out


def test_compare_stores_correlations_and_a_linked_report(catalog, rasters):
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest

    ingest(rasters["vnp46a4"], YEAR, catalog)
    report = compare_catalog(catalog)
    score = json.loads((catalog / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json").read_text())
    viirs = score["properties"]["devscore:viirs"]
    assert set(viirs) == {"pearson", "pearson_log1p", "spearman", "n", "year", "item"}
    assert viirs["item"] == "viirs-nightlights/48RVU-2023" and viirs["year"] == YEAR
    assert viirs["spearman"] == pytest.approx(report.rows[0].correlation.spearman, abs=1e-4)
    collection = catalog / "viirs-nightlights" / "collection.json"
    linked = {(collection.parent / l["href"]).resolve() for l in json.loads(collection.read_text())["links"]
              if l["rel"] in ("describedby", "related")}
    assert {report.markdown, report.csv, *report.figures} <= linked
    assert all(p.is_file() and p.stat().st_size > 0 for p in linked)
    assert report.csv.read_text().splitlines()[0].startswith("item,tile,year,pearson,pearson_log1p,spearman,n")
    assert "| 48RVU | 2023 |" in report.markdown.read_text()


@pytest.mark.parametrize("case", ["no_crs", "no_overlap", "wrong_year", "truncated_gz", "truncated_h5", "bad_layer"])
def test_bad_input_is_one_error_and_writes_nothing(catalog, rasters, tmp_path, case):
    from catalog.nightlights.ingest import ingest

    if case == "no_crs":
        files = [write_vnl_like(tmp_path / f"VNL_npp_{YEAR}_x.average.dat.tif", AROUND, YEAR, crs=None)]
    elif case == "no_overlap":
        files = [write_vnl_like(tmp_path / f"VNL_npp_{YEAR}_x.average.dat.tif", (10.0, 10.0, 10.5, 10.5), YEAR)]
    elif case == "wrong_year":
        files = [write_vnp46a4_like(tmp_path, 28, 5, 2022, field_bbox=(104, 30, 105, 31))]
    elif case == "truncated_gz":
        files = [truncate(write_vnl_like(tmp_path / f"VNL_npp_{YEAR}_x.average.dat.tif", AROUND, YEAR, gz=True), 0.4)]
    elif case == "truncated_h5":
        files = [truncate(write_vnp46a4_like(tmp_path, 28, 6, YEAR, field_bbox=AROUND), 0.6),
                 rasters["vnp46a4"][0]]
    else:
        files = rasters["vnp46a4"]
    before = _tree(catalog)
    with pytest.raises(NightLightsError) as err:
        ingest(files, YEAR, catalog, layer="Radiance" if case == "bad_layer" else None)
    message = str(err.value)
    assert "\n" not in message
    expected = {"no_crs": "no CRS", "no_overlap": "overlap none", "wrong_year": "not of --year",
                "truncated_gz": "truncated", "truncated_h5": "truncated", "bad_layer": "no layer"}[case]
    assert expected in message
    assert _tree(catalog) == before


def test_cli_ingest_and_compare(catalog, rasters):
    run = [str(Path(sys.executable).parent / "devscore")]
    bad = subprocess.run([*run, "viirs", "ingest", "--raster", str(rasters["vnl"][0]), "--year", "2021",
                          "--catalog", str(catalog)], capture_output=True, text=True)
    errors = [line for line in bad.stderr.splitlines() if line.startswith("Error:")]
    assert bad.returncode == 1 and len(errors) == 1 and "not of --year 2021" in errors[0]
    assert "Traceback" not in bad.stderr
    good = subprocess.run([*run, "viirs", "ingest", "--raster", str(rasters["vnl"][0]), "--year", str(YEAR),
                           "--catalog", str(catalog)], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    out = subprocess.run([*run, "compare", "--catalog", str(catalog)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "| granule | year | Pearson | Pearson log1p | Spearman | chips |" in out.stdout
    assert "| 48RVU | 2023 |" in out.stdout


def test_ingest_and_compare_in_one_call(catalog, rasters):
    from catalog.nightlights.run import ingest_and_compare

    report = ingest_and_compare({YEAR: rasters["vnl"]}, catalog)
    assert [row.item for row in report.rows] == ["48RVU-2023"] and "| 48RVU | 2023 |" in report.table()
    with pytest.raises(NightLightsError):
        ingest_and_compare({}, catalog)


def test_granules_the_rasters_miss_are_skipped_and_named_ones_refused(score_catalog, rasters, tmp_path):
    from catalog.ingest import publish_table
    from catalog.nightlights.ingest import ingest
    from publisher.scores import GranuleYear, scores_to_table

    catalog = Path(shutil.copytree(score_catalog, tmp_path / "catalog"))
    scores = np.full((32, 32), 0.5, np.float32)
    others = [GranuleYear(tile, YEAR, dt.datetime(YEAR, 4, 1, tzinfo=dt.timezone.utc), None, scores)
              for tile in ("01KAB", "31UDQ")]  # across the antimeridian (Fiji); Paris, far from the rasters
    scores_to_table(others).to_csv(tmp_path / "more.csv", index=False)
    publish_table(tmp_path / "more.csv", catalog, progress=False)
    assert [i.id for i in ingest(rasters["vnl"], YEAR, catalog)] == ["48RVU-2023"]
    for tile, reason in (("31UDQ", "do not cover"), ("01KAB", "antimeridian")):
        with pytest.raises(NightLightsError, match=reason):
            ingest(rasters["vnl"], YEAR, catalog, tiles=[tile])


def test_a_later_score_publish_keeps_the_night_lights(catalog, rasters, tmp_path):
    from catalog.ingest import publish_table
    from catalog.nightlights.ingest import ingest
    from catalog.reader import StaticCatalog
    from publisher.scores import GranuleYear, scores_to_table

    ingest(rasters["vnl"], YEAR, catalog)
    granule = GranuleYear("48RUU", YEAR, dt.datetime(YEAR, 4, 1, tzinfo=dt.timezone.utc), None,
                          np.full((32, 32), 0.5, np.float32))
    scores_to_table([granule]).to_csv(tmp_path / "more.csv", index=False)
    publish_table(tmp_path / "more.csv", catalog, progress=False)
    index = StaticCatalog(catalog)
    assert [r.id for r in index.items("viirs-nightlights")] == ["48RVU-2023"]
    assert [r.id for r in index.items("devscore-scores")] == ["48RUU-2023", "48RVU-2023"]


def test_comparing_one_year_keeps_the_other_years_in_the_report(tmp_path):
    """`devscore compare --year Y` redoes Y's rows; the other years' rows and figures stay in the report."""
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest

    around = (103.7, 29.5, 105.35, 31.0)
    for year in (2022, 2023):
        catalog = publish_field_scores(tmp_path, (TILE,), year)
        (tmp_path / str(year)).mkdir()
        ingest([write_vnl_like(tmp_path / str(year) / f"VNL_npp_{year}_global_vcmslcfg_v2_c202402081600.average.dat.tif",
                               around, year)], year, catalog)
    both = compare_catalog(catalog)
    again = compare_catalog(catalog, 2023)
    assert [r.item for r in again.rows] == [f"{TILE}-2022", f"{TILE}-2023"]
    for kept, first in zip(again.rows, both.rows):  # the same data give the same figures
        assert kept.item == first.item and kept.correlation.n == first.correlation.n
        assert kept.correlation.spearman == pytest.approx(first.correlation.spearman, abs=1e-3)
    table = again.csv.read_text().splitlines()
    assert len(table) == 3 and table[1].startswith(f"{TILE}-2022")
    collection = catalog / "viirs-nightlights" / "collection.json"
    linked = {(collection.parent / l["href"]).resolve() for l in json.loads(collection.read_text())["links"]
              if l["rel"] == "related"}
    assert {p.name for p in linked} >= {f"scatter-{TILE}-2022.png", f"maps-{TILE}-2022.png", f"scatter-{TILE}-2023.png"}
