"""Search spaces: which ``deltaflow train`` options a study samples, and how.

A parameter is ``NAME=SPEC`` (``--param``) or ``NAME = "SPEC"`` in a TOML file (``--space``):

====================  =====================================================================
``uniform:LOW:HIGH``   a float in [LOW, HIGH]
``loguniform:LOW:HIGH``  a float in [LOW, HIGH], uniform in log (LOW > 0)
``int:LOW:HIGH``       an integer in [LOW, HIGH]; ``int:LOW:HIGH:log`` uniform in log (LOW >= 1)
``choice:A,B,C``       one of the values (numbers, ``true``/``false`` or words); in a TOML file
                       an array is a choice too, for values holding commas:
                       ``hidden = ["128", "256,256"]``
====================  =====================================================================

``NAME`` is a ``deltaflow train`` option (``batch-size`` or ``batch_size``). Nothing here
imports Optuna: :meth:`SearchSpace.suggest` calls the trial it is given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


class SpaceError(ValueError):
    """A search-space entry that cannot be read (the message names it)."""


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    @property
    def spec(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}:{self.low!r}:{self.high!r}"

    def ends(self) -> tuple:
        return self.low, self.high

    def suggest(self, trial, name: str):
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False

    @property
    def spec(self) -> str:
        return f"int:{self.low}:{self.high}" + (":log" if self.log else "")

    def ends(self) -> tuple:
        return self.low, self.high

    def suggest(self, trial, name: str):
        return trial.suggest_int(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Choice:
    values: tuple

    @property
    def spec(self) -> list:
        return list(self.values)

    def ends(self) -> tuple:
        return self.values

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, list(self.values))


def _scalar(word: str):
    """A choice's word as the value it reads as: int, float, bool or the word itself."""
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(word)
        except ValueError:
            pass
    return word


def _number(word: str, kind, what: str):
    try:
        value = kind(word)
    except ValueError:
        raise SpaceError(f"{what}: {word!r} is not {'an integer' if kind is int else 'a number'}") \
            from None
    if not math.isfinite(value):
        raise SpaceError(f"{what}: {word!r} is not a finite number")
    return value


def parse_spec(spec, what: str):
    """One distribution from its text (``"loguniform:1e-4:1e-1"``) or a TOML array (a choice);
    ``what`` names the entry in messages (``"--param lr=..."``)."""
    if isinstance(spec, list | tuple):
        return _choice(list(spec), what)
    if not isinstance(spec, str):
        raise SpaceError(f"{what}: expected a distribution like 'loguniform:1e-4:1e-1' or an "
                         f"array of choices, got {spec!r}")
    kind, _, rest = spec.strip().partition(":")
    parts = rest.split(":")
    if kind == "choice":
        words = [w.strip() for w in rest.split(",")]
        if rest.strip() == "" or any(w == "" for w in words):
            raise SpaceError(f"{what}: choice needs values separated by commas "
                             f"(choice:128,256,512), got {spec!r}")
        return _choice([_scalar(w) for w in words], what)
    if kind in ("uniform", "loguniform") and len(parts) == 2:
        low, high = (_number(p, float, what) for p in parts)
        return _checked(FloatRange(low, high, kind == "loguniform"), what)
    if kind == "int" and (len(parts) == 2 or len(parts) == 3 and parts[2] == "log"):
        low, high = (_number(p, int, what) for p in parts[:2])
        return _checked(IntRange(low, high, len(parts) == 3), what)
    raise SpaceError(f"{what}: bad distribution {spec!r}; expected uniform:LOW:HIGH, "
                     f"loguniform:LOW:HIGH, int:LOW:HIGH[:log] or choice:A,B,...")


def _checked(dist, what: str):
    if dist.low > dist.high:
        raise SpaceError(f"{what}: empty range (low {dist.low!r} > high {dist.high!r})")
    if dist.low == dist.high:
        raise SpaceError(f"{what}: the range holds one value ({dist.low!r}); give it as a "
                         f"fixed option instead")
    if dist.log and dist.low <= 0:
        raise SpaceError(f"{what}: a log range needs low > 0, got {dist.low!r}")
    return dist


def _choice(values: list, what: str) -> Choice:
    if not values:
        raise SpaceError(f"{what}: a choice needs at least one value")
    for v in values:
        if not isinstance(v, bool | int | float | str):
            raise SpaceError(f"{what}: choices must be numbers, true/false or strings (a layer "
                             f"list as \"256,256\"), got {v!r}")
    if len(set(map(repr, values))) != len(values):
        raise SpaceError(f"{what}: a value is given twice in {values!r}")
    return Choice(tuple(values))


def dest(name: str) -> str:
    """The option's name as ``deltaflow train`` stores it: ``batch-size`` → ``batch_size``."""
    return name.strip().lstrip("-").replace("-", "_")


class SearchSpace(dict):
    """``{option: distribution}``, in the order given; :meth:`suggest` samples one trial."""

    @classmethod
    def parse(cls, entries: dict, source: str = "search space") -> SearchSpace:
        """From ``{name: spec}`` (the TOML form: spec texts or arrays of choices)."""
        space = cls()
        for name, spec in entries.items():
            key = dest(name)
            if not key:
                raise SpaceError(f"{source}: a parameter has an empty name")
            if key in space:
                raise SpaceError(f"{source}: parameter {name!r} is given twice")
            space[key] = spec if isinstance(spec, FloatRange | IntRange | Choice) \
                else parse_spec(spec, f"{source}: {name}")
        return space

    @classmethod
    def from_sources(cls, path=None, params=()) -> SearchSpace:
        """``--space FILE.toml`` and the ``--param NAME=SPEC`` list, together."""
        from ..train import run_folder as rf
        space = cls()
        if path is not None:
            space.update(cls.parse(rf.read_toml(Path(path)), str(path)))
        for item in params:
            name, eq, spec = item.partition("=")
            if not eq or not name.strip():
                raise SpaceError(f"--param {item!r}: expected NAME=SPEC, e.g. "
                                 f"lr=loguniform:1e-4:1e-1")
            if dest(name) in space:
                raise SpaceError(f"--param {item!r}: {name.strip()} is already in the search "
                                 f"space")
            space[dest(name)] = parse_spec(spec, f"--param {item}")
        return space

    def specs(self) -> dict:
        """``{option: spec}``: the TOML form, as ``study.json`` keeps it."""
        return {key: dist.spec for key, dist in self.items()}

    def suggest(self, trial) -> dict:
        """One value per parameter, drawn by the Optuna ``trial``."""
        return {key: dist.suggest(trial, key) for key, dist in self.items()}
