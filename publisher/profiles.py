"""Device profiles: the training and inference defaults for a CPU or a CUDA machine, in one place.

``cpu`` trains small (64 px inputs, as `make demo` does) for a number of steps
sized to a time budget; ``gpu`` trains at the method's native 343 px with CUDA mixed precision and
channels-last tensors. Options a user gives override the profile; :func:`resolve` says which won, for the
plan. This module imports no torch: `--help` and the plan's first lines stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from publisher.constants import NATIVE_INPUT_SIZE
from publisher.errors import DevscoreError

PROFILES = ("auto", "cpu", "gpu")

#: CPU training: the one definition (`make demo`, `devscore run --profile cpu`). 64 px inputs, 16 chips a
#: batch (per POG level with the rank loss), lr 3e-4 rather than train's 1e-4; measured on the demo region
#: (README: demo quality). ``max_epochs`` x ``steps_per_epoch`` is the step budget when no
#: ``--train-minutes`` is given.
#: 64 px x 80 steps costs about what 32 px x 240 did and scored 0.842 / 0.769 (all / plain) against
#: 0.777 / 0.666 on a 3-granule region (docs/science.md): the input side lifts the scorer more than length.
CPU_TRAINING: dict[str, Any] = {"input_size": 64, "batch_size": 16, "max_epochs": 4, "steps_per_epoch": 20,
                                "patience": 5, "lr": 3e-4}
#: Views each chip is scored from (test-time augmentation, publisher.scoring.tta): the mean over the four
#: rotations on the CPU (scoring costs 4x: about 3 of the demo's 10 minutes), over all eight rotations and
#: flips on a GPU. Measured on the demo (docs/science.md): 8 views lifted the plain 0.875 -> 0.905 and the
#: score change against the truth's; 4 views gave most of it (0.902).
CPU_VIEWS, GPU_VIEWS = 4, 8
#: GPU training: the method's settings (343 px, batch 32, Adam 1e-4, up to 30 epochs).
GPU_TRAINING: dict[str, Any] = {"input_size": NATIVE_INPUT_SIZE, "batch_size": 32, "max_epochs": 30, "patience": 5,
                                "lr": 1e-4}

#: The scorer ensemble (publisher/scoring/ensemble.py) of both profiles: members, the main model included, each
#: further one trained ``steps`` steps from the main model on a bootstrap resample of the POGs; the published
#: score is the members' mean (Spearman 0.891 against the main model's 0.876 on the demo region). Sized on the
#: demo region (docs/economist.md, bench/bench_ensemble.py): 3 members give a calibration of 0.30 end to end
#: (goal > 0.2) for an estimated minute per member beyond the first on 2 idle cores; more would take
#: `make demo` near its 10 minutes.
ENSEMBLE: dict[str, Any] = {"members": 3, "steps": 10, "score_from": "mean"}


class ProfileError(DevscoreError):
    """A profile this machine cannot run (``gpu`` without CUDA) or an unknown one."""


@dataclass(frozen=True)
class Profile:
    """Defaults of one kind of machine."""

    name: str
    device: str
    training: dict[str, Any]
    amp: bool = False  # CUDA automatic mixed precision in training and scoring
    channels_last: bool = False
    pin_memory: bool = False
    views: int = 1  # dihedral views each chip is scored from (publisher.scoring.tta)

    def precision(self) -> str:
        """How tensors are held, for the plan (training and scoring apply it whenever the device is CUDA)."""
        if not self.amp:
            return "float32"
        return "CUDA mixed precision (float16)" + (", channels-last" if self.channels_last else "") + (
            ", pinned-memory loading" if self.pin_memory else "")


CPU = Profile("cpu", "cpu", CPU_TRAINING, views=CPU_VIEWS)
GPU = Profile("gpu", "cuda", GPU_TRAINING, amp=True, channels_last=True, pin_memory=True, views=GPU_VIEWS)


#: Scoring views by profile name (a plan carries the name).
PROFILE_VIEWS = {CPU.name: CPU.views, GPU.name: GPU.views}


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (imports torch)."""
    import torch

    return bool(torch.cuda.is_available())


def pick(name: str) -> Profile:
    """The profile called ``name``; ``auto`` is ``gpu`` when torch sees CUDA, else ``cpu``."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    if name == "auto":
        return GPU if cuda_available() else CPU
    if name == "gpu" and not cuda_available():
        raise ProfileError("--profile gpu needs CUDA, and torch sees no CUDA device here; use --profile cpu "
                           "(or auto)")
    return CPU if name == "cpu" else GPU


@dataclass(frozen=True)
class Setting:
    """One training setting and where it came from: ``option``, ``profile cpu``, ``budget``, ``train``."""

    value: Any
    source: str


def resolve(profile: Profile, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Setting]:
    """Training settings: an option given wins over the profile, which wins over ``defaults`` (train's)."""
    settings = {name: Setting(value, "train default") for name, value in defaults.items()}
    settings.update({name: Setting(value, f"profile {profile.name}") for name, value in profile.training.items()})
    settings.update({name: Setting(value, "option") for name, value in given.items() if value is not None})
    return settings

