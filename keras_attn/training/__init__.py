"""Training on plain `model.fit`: recipes (`train`, `fit`, `pretrain`,
`finetune`), the optimizer set-up (`compile_model`), scoring, the
learning-rate schedule, the masked metric and data parallelism."""

from keras_attn import _lazy
from keras_attn.training.recipes import compile_model, evaluate, finetune, fit, pretrain, pretrained_tokenizer, train

__all__ = ["compile_model", "evaluate", "finetune", "fit", "pretrain", "pretrained_tokenizer", "train"]

__getattr__, _ = _lazy.submodules(__name__, ("distribution", "metrics", "recipes", "schedules", "scoring"))
