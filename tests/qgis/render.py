"""Render devscore's layers with QGIS itself (PyQGIS, headless), as a user adds them: run with Debian's
/usr/bin/python3 (python3-qgis), not the project's venv.

Usage: QT_QPA_PLATFORM=offscreen /usr/bin/python3 render.py BASE_URL OUT_DIR WEST SOUTH EAST NORTH
For each layer (scores over XYZ and WMTS, night lights over XYZ) renders the data's extent (the bbox,
in degrees) and a 1:10,000 view at its centre into PNGs and prints one JSON object:
{layer: {view: painted share}}.
"""

import json
import sys
from pathlib import Path

from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsMapRendererParallelJob,
                       QgsMapSettings, QgsProject, QgsRasterLayer, QgsRectangle)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

SIZE = 512
#: Scale denominator of the zoomed-in view (QGIS asked the server for z15-16 at 1:27,000 and closer).
CLOSE_SCALE = 10_000


def layers(base: str) -> dict[str, QgsRasterLayer]:
    year = f"{base}/collections/devscore-scores/years/2023"
    lights = f"{base}/nightlights/years/2023"
    xyz = "type=xyz&url={}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png&zmin=0&zmax=14"
    wmts = (f"contextualWMSLegend=0&crs=EPSG:3857&dpiMode=7&format=image/png&layers=devscore-scores-2023_"
            f"WebMercatorQuad_default&styles=default&tileMatrixSet=WebMercatorQuad&url={year}/WMTSCapabilities.xml")
    return {"scores-xyz": QgsRasterLayer(xyz.format(year), "scores xyz", "wms"),
            "scores-wmts": QgsRasterLayer(wmts, "scores wmts", "wms"),
            "nightlights-xyz": QgsRasterLayer(xyz.format(lights).replace("zmax=14", "zmax=12"), "lights", "wms")}


def render(layer: QgsRasterLayer, extent: QgsRectangle, out: Path) -> float:
    """Render ``layer`` over ``extent`` (EPSG:3857) on white; the share of pixels not white."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setOutputSize(QSize(SIZE, SIZE))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(str(out))
    painted = sum(image.pixelColor(x, y).name() != "#ffffff" for x in range(0, SIZE, 4) for y in range(0, SIZE, 4))
    return painted / (SIZE // 4) ** 2


def main() -> None:
    base, out = sys.argv[1], Path(sys.argv[2])
    west, south, east, north = map(float, sys.argv[3:7])
    app = QgsApplication([], False)
    app.initQgis()
    web = QgsCoordinateReferenceSystem("EPSG:3857")
    to_web = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), web, QgsProject.instance())
    extent = to_web.transformBoundingBox(QgsRectangle(west, south, east, north))
    centre = extent.center()
    # 1:10,000 on a 512 px image at QGIS's default 96 dpi: 512 px x 0.2646 mm x 10,000 = 1.35 km of ground
    half = SIZE * 0.0254 / 96 * CLOSE_SCALE / 2
    close = QgsRectangle(centre.x() - half, centre.y() - half, centre.x() + half, centre.y() + half)
    results = {}
    for name, layer in layers(base).items():
        if not layer.isValid():
            results[name] = {"error": layer.error().summary()[:300]}
            continue
        results[name] = {"extent": render(layer, extent, out / f"{name}-extent.png"),
                         "close": render(layer, close, out / f"{name}-close.png")}
    print(json.dumps(results))
    app.exitQgis()


if __name__ == "__main__":
    main()
