"""The base of the models that read one sentence (`[CLS]` first) and give
one row for it: the classifiers and the sentence encoder. They export as one
`forward` piece."""

import numpy as np

from keras_attn.models.task import Piece, Task, random_token_ids, token_ids_spec
from keras_attn.tokenizers.vocabulary import CLS_ID


def cls_token_ids(rng, row_lengths, vocabulary_size):
    """Random token ids that start with `[CLS]`, right-padded to `row_lengths`."""
    ids = random_token_ids(rng, row_lengths, vocabulary_size)
    ids[:, 0] = CLS_ID
    return ids


class SentenceTask(Task):
    """Class attribute `extra_inputs`: inputs besides the token ids, all
    zeros (BERT's one segment)."""

    extra_inputs = ()

    # Every sentence backbone takes both settings.
    @property
    def vocabulary_size(self):
        return self.backbone.get_config()["vocabulary_size"]

    @property
    def max_length(self):
        """The longest input the model accepts (its position table)."""
        return self.backbone.get_config()["max_length"]

    def forward_inputs(self, token_ids, zeros_like=np.zeros_like):
        """The named inputs for a batch of token ids; `zeros_like` makes the
        extra inputs (pass `tf.zeros_like` inside a TensorFlow graph)."""
        return {"token_ids": token_ids, **{name: zeros_like(token_ids) for name in self.extra_inputs}}

    def export_lengths(self, lengths):
        return {"max_length": self.max_length}

    def pieces(self, lengths):
        names = ("token_ids",) + tuple(self.extra_inputs)
        return [Piece("forward", self, {name: token_ids_spec() for name in names},
                      {name: self.max_length for name in names}, adapt=self.call_inputs)]

    def runtime_spec(self, lengths):
        return {"task": self.task_type, "zero_inputs": list(self.extra_inputs), "max_length": lengths["max_length"],
                "vocabulary_sizes": {"token_ids": self.vocabulary_size}}

    def example_inputs(self, lengths, rng, row_lengths):
        return self.forward_inputs(cls_token_ids(rng, row_lengths, self.vocabulary_size))

    def real_inputs(self, task, count):
        return self.forward_inputs(task.splits["test"][0][:count])
