"""Training: recipes, a resumable deterministic loop, checkpoints, DDP, model cards."""

from .calibration import calibrate, fit_temperature
from ..cards import read_card, write_card
from .loop import RunConfig, train
from .recipes import RECIPES, Recipe, get_recipe

__all__ = ["train", "RunConfig", "calibrate", "fit_temperature", "Recipe", "RECIPES", "get_recipe", "read_card",
           "write_card"]
