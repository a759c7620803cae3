"""Course recommendations trained on what the store holds (purchases and messages).

Only this package and the recommend cog may import scikit-learn; the core never does. This
package imports nothing of the bot but ``bot.store`` (to read its data).
"""

from bot.recommend._data import Course, Dataset, Split, catalog_digest, temporal_split
from bot.recommend._model import Algorithm, Model, ModelInfo, Reason, Suggestion
from bot.recommend._persist import ModelFileError, load, save
from bot.recommend._train import TrainParams, train

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
