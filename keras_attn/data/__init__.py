"""Data: built-in tasks, corpus readers and tasks, batching and masked-LM inputs.

- `tasks`: the task types (`TranslationTask`, `ClassificationTask`), the
  built-in synthetic tasks and task files (`.npz`);
- `readers`: the corpus file readers, with `file:line: reason` reports;
- `corpora`: spa-eng, SST-2, WikiText-2 and user files as tasks (learning a
  WordPiece vocabulary needs tensorflow-text; tokenizing does not);
- `packing`: the one rule that turns id rows into inputs (cut, special
  tokens, pad), in Python and in a TensorFlow graph;
- `batching`: length-bucketed batches for `model.fit`;
- `masked_lm`: BERT's masking procedure and masked-LM corpus files.
"""

from keras_attn import _lazy

__getattr__, __dir__ = _lazy.submodules(__name__, ("batching", "corpora", "masked_lm", "packing", "readers", "tasks"))
