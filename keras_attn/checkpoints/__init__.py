"""Published checkpoints in and out of the zoo's models: Hugging Face BERT
(`huggingface_bert`) and Marian (`huggingface_marian`) directories, over
what every Hugging Face directory shares (`huggingface`). Numpy, safetensors
and sentencepiece; no PyTorch. `module_for(path)` picks the module by the
directory's `model_type`.

>>> from keras_attn import checkpoints
>>> sorted(checkpoints.huggingface_bert.ARCHITECTURES)
['BertForMaskedLM', 'BertForSequenceClassification', 'BertModel']
>>> sorted(checkpoints.MODULES)
['bert', 'marian']
"""

from keras_attn.checkpoints import huggingface, huggingface_bert, huggingface_marian
from keras_attn.checkpoints.huggingface import CheckpointError

MODULES = {"bert": huggingface_bert, "marian": huggingface_marian}


def module_for(path):
    """The module that imports the Hugging Face directory `path`, by its `config.json` `model_type`."""
    model_type = huggingface.read_config(path).get("model_type")
    if model_type not in MODULES:
        raise CheckpointError(f"config.json: `model_type`={model_type!r}; the zoo imports {sorted(MODULES)}.")
    return MODULES[model_type]


def module_of_run(run_dir):
    """The module that exports run directory `run_dir`, by its model's class."""
    from keras_attn import models, run_directory

    task_class = models.task_class(run_directory.read_config(run_dir)["class"])
    for module in MODULES.values():
        if task_class in module.ARCHITECTURES.values():
            return module
    raise CheckpointError(f"{run_dir} holds a {task_class.__name__}; the zoo exports BERTs and "
                          f"TransformerTranslators to Hugging Face.")


__all__ = ["CheckpointError", "MODULES", "huggingface", "huggingface_bert", "huggingface_marian", "module_for",
           "module_of_run"]
