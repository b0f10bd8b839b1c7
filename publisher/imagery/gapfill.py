"""Gap-free chips: a chip blank or cloudy in the chosen scene is taken from the clearest other scene of the
same year that has it clear, and each chip records the scene it came from. A chip clear in no scene is
mosaicked pixel by pixel (each pixel from the first scene where it is neither blank nor cloud-like, the
chosen scene first) and kept when the mosaic is clear; it records the scene that gave most of its pixels."""

from __future__ import annotations

import logging

import numpy as np
import rasterio
from rasterio.windows import Window

from publisher.imagery.acquire import HTTP_ENV, gdal_path
from publisher.imagery.extract import OK, ChipSet, chip_flag, pixel_masks

log = logging.getLogger(__name__)


def fill_gaps(chipset: ChipSet, href: str, fallbacks: list[str]) -> np.ndarray:
    """Replace, in place, every flagged chip of ``chipset`` (cut from ``href``) by the same chip of the first
    scene of ``fallbacks`` (hrefs, clearest first) where it is clear; returns per chip the index of its
    scene: 0 the chosen one, k the k-th fallback. Scenes on another grid than the chosen one are skipped."""
    sources = np.zeros(len(chipset.chips), np.int16)
    size = chipset.chips.shape[1]
    candidates: dict[int, list[tuple[int, np.ndarray]]] = {}  # flagged chip -> (scene, its pixels) in order
    for i in np.flatnonzero(chipset.flags != OK):
        candidates[int(i)] = [(0, np.array(chipset.chips[i]))]
    with rasterio.Env(**HTTP_ENV):
        with rasterio.open(gdal_path(href)) as chosen:
            grid = (chosen.transform, chosen.crs, chosen.shape)
        for k, other in enumerate(fallbacks, start=1):
            gaps = np.flatnonzero(chipset.flags != OK)
            if gaps.size == 0:
                break
            with rasterio.open(gdal_path(other)) as ds:
                if (ds.transform, ds.crs, ds.shape) != grid or ds.count < 3:
                    log.info("%s: not on the grid of %s, not used to fill gaps", other, href)
                    continue
                for i in gaps:
                    row, col = int(chipset.rows[i]), int(chipset.cols[i])
                    chip = ds.read((1, 2, 3), window=Window(col * size, row * size, size, size)).transpose(1, 2, 0)
                    if chip_flag(chip) == OK:
                        chipset.chips[i] = chip
                        chipset.flags[i] = OK
                        sources[i] = k
                    else:
                        candidates[int(i)].append((k, chip))
    mosaicked = 0
    for i in np.flatnonzero(chipset.flags != OK):
        scenes, stack = zip(*candidates[int(i)])
        blank, cloud = pixel_masks(np.stack(stack))
        usable = ~(blank | cloud)
        first = np.argmax(usable, axis=0)  # the first scene with a usable pixel (0 where none is)
        mosaic = np.take_along_axis(np.stack(stack), first[None, ..., None], axis=0)[0]
        if chip_flag(mosaic) == OK:
            chipset.chips[i] = mosaic
            chipset.flags[i] = OK
            sources[i] = scenes[int(np.bincount(first.ravel()).argmax())]
            mosaicked += 1
    log.info("%s: %d chip(s) taken from %d other scene(s), %d mosaicked, %d still blank or cloudy", href,
             int((sources > 0).sum()), len(set(sources[sources > 0].tolist())), mosaicked,
             int((chipset.flags != OK).sum()))
    return sources
