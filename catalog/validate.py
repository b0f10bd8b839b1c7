"""Check a static catalog: STAC schemas (extensions included, offline from a schema folder), asset
files, their sizes and checksums, and that every COG is a valid Cloud-Optimized GeoTIFF."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pystac
import pystac.validation
from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator
from rio_cogeo.cogeo import cog_validate

from catalog.journal import interrupted
from publisher.constants import SCHEMA_LAYOUT, SCHEMAS_ENV
from publisher.errors import DevscoreError
from publisher.stac import COG_MEDIA_TYPE, multihash_sha256

SCHEMA_URL_PREFIX = "https://stac-extensions.github.io/"


class SchemaFolderError(DevscoreError):
    """No local folder of STAC extension schemas to validate against."""


@dataclass(frozen=True)
class Problem:
    """One fault found in the catalog, named by the file it is in."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class OfflineSchemaValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator with extension schemas read from a local folder, never the network.

    The folder holds ``<extension>/<version>/schema.json`` as published at
    ``https://stac-extensions.github.io/<extension>/<version>/schema.json``; a schema missing from it
    is an error, not a download.
    """

    def __init__(self, schema_dir: Path) -> None:
        super().__init__()
        for path in sorted(Path(schema_dir).glob("*/*/schema.json")):
            schema = json.loads(path.read_text())
            url = f"{SCHEMA_URL_PREFIX}{path.parent.parent.name}/{path.parent.name}/schema.json"
            self.schema_cache[url] = schema
            self.schema_cache[url + "#"] = schema

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise GetSchemaError(schema_uri, FileNotFoundError("not in the offline schema folder"))
        return self.schema_cache[schema_uri]


def default_schema_dir() -> Path:
    """Where extension schemas are looked for when none is named: ``$DEVSCORE_STAC_SCHEMAS``, else
    ``../shared/stac-schemas`` beside the repository (read at call time, so the variable always counts)."""
    named = os.environ.get(SCHEMAS_ENV)
    return Path(named) if named else Path(__file__).resolve().parents[2] / "shared" / "stac-schemas"


def find_schema_dir(schema_dir: str | Path | None = None) -> Path:
    """The local schema folder to validate against: ``schema_dir``, else :func:`default_schema_dir`.

    A folder that is missing or holds no ``<extension>/<version>/schema.json`` is a
    :class:`SchemaFolderError` saying what to pass, never a silent fallback to the network.
    """
    folder = Path(schema_dir) if schema_dir is not None else default_schema_dir()
    if folder.is_dir() and next(folder.glob("*/*/schema.json"), None) is not None:
        return folder
    state = "does not exist" if not folder.is_dir() else f"holds no {SCHEMA_LAYOUT}"
    if schema_dir is not None:
        raise SchemaFolderError(f"schema folder {folder} {state}: pass --schemas DIR with the STAC extension schemas")
    raise SchemaFolderError(f"no STAC extension schemas: {folder} {state}; pass --schemas DIR (a folder of "
                            f"{SCHEMA_LAYOUT}) or set {SCHEMAS_ENV}")


def _schema_problems(obj: pystac.STACObject, where: str) -> Iterator[Problem]:
    try:
        obj.validate()
    except pystac.errors.STACValidationError as exc:
        detail = exc.source
        message = getattr(detail, "message", None) or str(exc).splitlines()[0]
        yield Problem(where, f"schema: {message}")
    except GetSchemaError as exc:
        yield Problem(where, f"schema unavailable: {exc}")


def _relative(path: str | Path, root: Path) -> str:
    """``path`` relative to the absolute folder ``root`` (``..`` where it lies outside), whether the
    caller named the catalog by a relative or an absolute path."""
    return os.path.relpath(os.path.abspath(path), root)


def _outside(relative: str) -> bool:
    return relative == ".." or relative.startswith("../")


def _asset_problems(item: pystac.Item, where: str, root: Path) -> Iterator[Problem]:
    for key, asset in item.assets.items():
        if Path(asset.href).is_absolute():
            yield Problem(where, f"asset {key!r} href {asset.href} is absolute; the catalog must be self-contained")
        path = Path(asset.get_absolute_href() or "")
        if _outside(_relative(path, root)):
            yield Problem(where, f"asset {key!r} href {asset.href} points outside the catalog folder")
            continue
        if not path.is_file():
            yield Problem(where, f"asset {key!r} file {path.name} is missing")
            continue
        size, checksum = asset.extra_fields.get("file:size"), asset.extra_fields.get("file:checksum")
        if size is not None and size != path.stat().st_size:
            yield Problem(where, f"asset {key!r}: file:size {size} but the file has {path.stat().st_size} bytes")
        if checksum is not None and checksum != multihash_sha256(path):
            yield Problem(where, f"asset {key!r}: file:checksum does not match {path.name}")
        if asset.media_type == COG_MEDIA_TYPE:
            try:
                valid, errors, _ = cog_validate(str(path), quiet=True)
            except Exception as exc:  # GDAL cannot open it at all
                valid, errors = False, [str(exc).splitlines()[0]]
            if not valid:
                yield Problem(where, f"asset {key!r}: not a valid COG ({'; '.join(errors) or 'unreadable'})")


def validate_catalog(
    catalog_dir: str | Path, schema_dir: str | Path | None = None, check_schemas: bool = True,
    remote_schemas: bool = False,
) -> list[Problem]:
    """Every problem of the catalog at ``catalog_dir``; an empty list means it is valid.

    The extension schemas come from ``schema_dir``, else from :func:`default_schema_dir` (offline;
    :class:`SchemaFolderError` when neither holds schemas). Only ``remote_schemas=True`` lets pystac
    fetch them from their published URLs. ``check_schemas=False`` checks only files and COGs.
    """
    root_file = Path(catalog_dir) / "catalog.json"
    root_dir = Path(os.path.abspath(catalog_dir))
    if not root_file.is_file():
        return [Problem(str(root_file), "no catalog.json here")]
    if remote_schemas and schema_dir is not None:
        raise ValueError("a schema folder and remote schemas exclude each other")
    validator = None
    if check_schemas and not remote_schemas:
        validator = OfflineSchemaValidator(find_schema_dir(schema_dir))
    previous = pystac.validation.RegisteredValidator.get_validator()
    # pystac logs each failure with a traceback; the problems list already says it in one line
    pystac_log = logging.getLogger("pystac.validation.stac_validator")
    pystac_level = pystac_log.level
    pystac_log.setLevel(logging.CRITICAL)
    if validator is not None:
        pystac.validation.set_validator(validator)
    problems: list[Problem] = []
    try:
        root = pystac.Catalog.from_file(str(root_file))
        objects = [root, *root.get_all_collections(), *root.get_items(recursive=True)]
        for obj in objects:
            where = _relative(obj.get_self_href(), root_dir)
            if _outside(where):
                problems.append(Problem(where, "linked from the catalog but outside its folder"))
                continue
            if check_schemas:
                problems += _schema_problems(obj, where)
            if isinstance(obj, pystac.Item):
                problems += _asset_problems(obj, where, root_dir)
        problems += night_light_consistency(root_dir)
        problems += [Problem(".", f"an interrupted {operation} left files of this catalog out of step: run "
                                  f"{command} again") for operation, command in interrupted(root_dir)]
    except Exception as exc:  # pystac raises anything from KeyError to TypeError on malformed JSON
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(Problem(str(root_file), f"cannot read the catalog: {message}"))
    finally:
        pystac.validation.set_validator(previous)
        pystac_log.setLevel(pystac_level)
    return problems


#: Figures of ``devscore:viirs`` that the night-light report repeats (4 decimals in both).
_FIGURES = ("pearson", "pearson_log1p", "spearman", "n")


def _differs(a: Any, b: Any) -> bool:
    try:
        return not abs(float(a) - float(b)) <= 1e-4  # nan or missing: differs
    except (TypeError, ValueError):
        return True


def night_light_consistency(root_dir: Path) -> list[Problem]:
    """Cross-file invariants a command killed half-way could break: every score item's ``devscore:viirs``
    names a night-light item that exists and has the figures of the report's row for that item, and
    every row of the report whose score item exists is in that item's ``devscore:viirs``."""
    import csv

    from catalog.nightlights.store import REPORT_DIR, VIIRS_PROPERTY, collection_dir
    from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID

    lights_dir = collection_dir(root_dir)
    if not (lights_dir / "collection.json").is_file():
        return []
    table = lights_dir / REPORT_DIR / "correlations.csv"
    rows = {}
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as fh:
            rows = {row["item"]: row for row in csv.DictReader(fh)}
    problems = []
    for path in sorted((root_dir / SCORE_COLLECTION_ID).glob("*/*.json")):
        where = _relative(str(path), root_dir)
        viirs = json.loads(path.read_text(encoding="utf-8")).get("properties", {}).get(VIIRS_PROPERTY)
        row = rows.pop(path.stem, None)
        if viirs is None:
            if row is not None:
                problems.append(Problem(where, f"the night-light report has a row for {path.stem} but the item has no "
                                               f"{VIIRS_PROPERTY} (an interrupted command: run devscore compare again)"))
            continue
        lights_id = str(viirs.get("item", "")).split("/")[-1]
        if not (lights_dir / lights_id / f"{lights_id}.json").is_file():
            problems.append(Problem(where, f"{VIIRS_PROPERTY} names night-light item {lights_id!r}, which is not in "
                                           "the catalog"))
        if row is None:
            problems.append(Problem(where, f"{VIIRS_PROPERTY} has no row in the night-light report"))
        elif any(_differs(row.get(k), viirs.get(k)) for k in _FIGURES):
            problems.append(Problem(where, f"{VIIRS_PROPERTY} differs from the night-light report's row (an "
                                           "interrupted command: run devscore compare again)"))
    return problems
