"""The VLM prompts: METHOD.md's score and category prompts by default, overridable from a TOML file."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from publisher.errors import DevscoreError

SCORE_PROMPT = (
    "This is a true-colour Sentinel-2 satellite image (10 m pixels, about 3.4 km across). "
    "Rate the economic development of the area it shows with a score from 0 to 100: "
    "cities 80-100, rural areas 20-79, mountain, highland and uninhabited areas 0-19. "
    "Answer with the score only, a single number, and nothing else."
)
CATEGORY_PROMPT = (
    "This is a true-colour Sentinel-2 satellite image (10 m pixels, about 3.4 km across). "
    "Estimate how much of the area (0-100 each) is urban, rural, mountain and highland. "
    "Answer with a list of four numbers [urban, rural, mountain, highland] and nothing else."
)
#: Category order of every share vector.
CATEGORIES: tuple[str, ...] = ("urban", "rural", "mountain", "highland")


class PromptFileError(DevscoreError):
    """A prompt file that cannot be read or has unknown or empty entries."""


@dataclass(frozen=True)
class Prompts:
    """The two prompts: ``score`` asks for a 0-100 development score, ``category`` for four shares
    (it never names a category the image is expected to be: the answer must not be led)."""

    score: str = SCORE_PROMPT
    category: str = CATEGORY_PROMPT

    @classmethod
    def from_file(cls, path: str | Path) -> "Prompts":
        """Read ``score = "..."`` and/or ``category = "..."`` from a TOML file; missing keys keep the defaults."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PromptFileError(f"cannot read prompt file {path}: {exc}") from None
        unknown = sorted(set(data) - {"score", "category"})
        if unknown:
            raise PromptFileError(f"prompt file {path}: unknown key(s) {', '.join(unknown)} (use score, category)")
        for key, value in data.items():
            if not isinstance(value, str) or not value.strip():
                raise PromptFileError(f"prompt file {path}: {key} must be a non-empty string")
        return cls(**{k: v.strip() for k, v in data.items()})

    def sha256(self) -> dict[str, str]:
        """SHA-256 of each prompt, for provenance."""
        return {name: hashlib.sha256(text.encode()).hexdigest() for name, text in
                (("score", self.score), ("category", self.category))}
