"""Chips: the chip-size rule, blank/cloud flags, and the same result on 1 or 2 MPI ranks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from publisher.errors import DevscoreError
from publisher.imagery.extract import BLANK, CLOUD, OK, chip_flag, chip_flags, chip_size
from publisher.imagery.synth import synthesize


def test_chip_size_rule():
    assert chip_size((10980, 10980)) == 343
    assert chip_size((1098, 1098)) == 34
    with pytest.raises(DevscoreError, match="too small"):
        chip_size((20, 20))


def test_flags():
    rng = np.random.default_rng(0)
    land = rng.integers(30, 160, (34, 34, 3), dtype=np.uint8)
    assert chip_flag(land) == OK
    blank = land.copy()
    blank[:, :20] = 0
    assert chip_flag(blank) == BLANK
    cloud = land.copy()
    cloud[:25] = rng.integers(235, 250, (25, 34, 1), dtype=np.uint8)  # grey-white, bands alike
    assert chip_flag(cloud) == CLOUD
    bright_urban = land.copy()
    bright_urban[:25, :, 0] = 250  # bright but coloured: not cloud
    assert chip_flag(bright_urban) == OK


@pytest.mark.slow
def test_same_chips_on_one_and_two_ranks(tmp_path):
    result = synthesize(tmp_path / "region", tiles=("48RVU",), years=(2023,), scenes_per_year=2, size=1098, seed=4,
                        progress=False)
    bindir = Path(sys.executable).parent
    outputs = {}
    for ranks in (1, 2):
        out = tmp_path / f"n{ranks}"
        proc = subprocess.run([str(bindir / "mpiexec"), "-n", str(ranks), str(bindir / "devscore"), "chips",
                               "--tile", "48RVU", "--year", "2023", "--source-catalog", str(tmp_path / "region" / "source"),
                               "--max-cloud", "90", "--out", str(out), "--export-png"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert f"on {ranks} rank" in proc.stdout
        outputs[ranks] = np.load(out / "48RVU-2023.npz")
        assert len(list((out / "48RVU-2023").glob("*.png"))) == 1024
    one, two = outputs[1], outputs[2]
    assert one["chips"].shape == (1024, 34, 34, 3)
    for key in ("chips", "flags", "rows", "cols"):
        np.testing.assert_array_equal(one[key], two[key])
    chosen = min((i for i in result.scenes if i.properties["eo:cloud_cover"] < 90),
                 key=lambda i: (round(i.properties["s2:nodata_pixel_percentage"] / 100, 3), i.properties["eo:cloud_cover"]))
    share_flagged = (one["flags"] != OK).mean() * 100
    expected = chosen.properties["eo:cloud_cover"] + chosen.properties["s2:nodata_pixel_percentage"]
    assert abs(share_flagged - expected) < 20  # flags follow the scene's clouds and blank area


def test_vectorised_flags_match_the_per_chip_rule():
    rng = np.random.default_rng(1)
    chips = rng.integers(0, 256, (12, 20, 20, 3), dtype=np.uint8)
    chips[3, :15] = 0  # mostly blank
    chips[5, :16] = 240  # mostly cloud
    flags = chip_flags(chips)
    assert flags[3] == BLANK and flags[5] == CLOUD
    assert list(flags) == [chip_flag(chip) for chip in chips]


@pytest.mark.slow
def test_several_granule_years_over_two_ranks(tmp_path):
    """`--tile A,B` cuts both granule-years, each spread over the ranks; a tile without scenes fails the
    whole run with a line naming it, and writes nothing."""
    synthesize(tmp_path / "region", tiles=("48RVU", "48RUU"), years=(2023,), scenes_per_year=1, size=320, seed=6,
               progress=False)
    bindir = Path(sys.executable).parent
    base = [str(bindir / "mpiexec"), "-n", "2", str(bindir / "devscore"), "chips", "--year", "2023",
            "--source-catalog", str(tmp_path / "region" / "source"), "--max-cloud", "100"]
    proc = subprocess.run([*base, "--tile", "48RVU,48RUU", "--out", str(tmp_path / "ok")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["48RUU-2023.npz", "48RVU-2023.npz"]
    assert proc.stdout.count("1024 chips of 10 px on 2 rank(s)") == 2
    proc = subprocess.run([*base, "--tile", "48RVU,48RVT", "--out", str(tmp_path / "bad")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "48RVT" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bad").exists()
