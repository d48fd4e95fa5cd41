"""Training on plain `model.fit`: recipes (`train`, `fit`, `pretrain`,
`finetune`), the optimizer set-up (`compile_model`), scoring, the
learning-rate schedule, the masked metric, resumable checkpoints and data
parallelism.

Nothing is imported here: the models import `metrics` and `scoring`, and
`recipes` imports the models, so the recipes load on first use.
"""

import importlib

_SUBMODULES = ("distribution", "epoch_log", "metrics", "processes", "recipes", "resume", "schedules", "scoring",
               "time_limit")
_RECIPES = ("compile_model", "evaluate", "finetune", "fit", "pretrain", "pretrained_tokenizer", "train")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _RECIPES:
        return getattr(importlib.import_module(f"{__name__}.recipes"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(_SUBMODULES + _RECIPES)


__all__ = list(_RECIPES)
