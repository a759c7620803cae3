"""Course recommendations trained on what the store holds (purchases and messages).

Only this package and the recommend cog may import scikit-learn; the core never does. This
package imports nothing of the bot but ``bot.store`` (to read its data). Its plain types load
at once; what needs numpy, scipy or scikit-learn loads when first used, so a bot that has not
yet trained or scored starts without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bot.recommend._types import Algorithm, Course, ModelInfo, Reason, Suggestion, catalog_digest

if TYPE_CHECKING:
    from bot.recommend._data import Dataset, Split, temporal_split
    from bot.recommend._model import Model
    from bot.recommend._persist import ModelFileError, load, save
    from bot.recommend._train import TrainParams, train

# Name -> the module that defines it, imported on first access.
_LAZY = {
    "Dataset": "_data",
    "Split": "_data",
    "temporal_split": "_data",
    "Model": "_model",
    "ModelFileError": "_persist",
    "load": "_persist",
    "save": "_persist",
    "TrainParams": "_train",
    "train": "_train",
}


def __getattr__(name: str) -> Any:
    """Import a heavy name's module when it is first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Algorithm",
    "Course",
    "Dataset",
    "Model",
    "ModelFileError",
    "ModelInfo",
    "Reason",
    "Split",
    "Suggestion",
    "TrainParams",
    "catalog_digest",
    "load",
    "save",
    "temporal_split",
    "train",
]
