"""`--max-memory`: the plan keeps the batch and splits a step into the fewest micro-batches that fit the
budget (gradient accumulation), and refuses a budget below a micro-batch of 2 chips per level in one line
naming the minimum."""

from __future__ import annotations

import math

import pytest

from devscore.run import fit_batch_to_memory
from publisher.errors import DevscoreError
from publisher.plan import PLAN_LEVELS, Estimate, Plan, StepMemory
from publisher.profiles import Setting

MEMORY = StepMemory(base_mb=600.0, per_chip_mb=3.0, data_mb=40.0)


def plan(batch: int, loss: str = "rank") -> Plan:
    settings = {"batch_size": Setting(batch, "profile cpu"), "loss": Setting(loss, "train default"),
                "input_size": Setting(64, "profile cpu")}
    return Plan([("48RVU", 2021)], {}, [], "cpu", "cpu", settings, {"train": Estimate(100.0, 0.0)})


def step_mb(chips_per_level: int, loss: str = "rank") -> float:
    return MEMORY.peak_mb(chips_per_level * (PLAN_LEVELS if loss == "rank" else 1))


def test_a_budget_the_whole_step_fits_changes_nothing():
    p = plan(16)
    fit_batch_to_memory(p, MEMORY, step_mb(16))
    assert "accumulate" not in p.settings and p.settings["batch_size"].value == 16


@pytest.mark.parametrize("loss", ["rank", "seed"])
def test_a_smaller_budget_accumulates_over_the_fewest_micro_batches_that_fit(loss):
    for budget_chips in (15, 9, 8, 5, 2):
        p = plan(16, loss)
        fit_batch_to_memory(p, MEMORY, step_mb(budget_chips, loss))
        parts = p.settings["accumulate"].value
        assert math.ceil(16 / parts) <= budget_chips < math.ceil(16 / (parts - 1))  # fewest parts that fit
        assert p.settings["batch_size"].value == 16 and p.settings["accumulate"].source.startswith("--max-memory")
        assert p.estimates["train"].peak_mb <= step_mb(budget_chips, loss)


def test_a_budget_below_a_micro_batch_of_two_is_refused_with_the_minimum():
    p = plan(16)
    with pytest.raises(DevscoreError) as caught:
        fit_batch_to_memory(p, MEMORY, step_mb(2) - 1)
    message = str(caught.value)
    assert "\n" not in message and f"at least {step_mb(2):.0f} MB" in message and "--max-memory" in message
