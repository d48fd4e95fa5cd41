"""The base of every text classifier: a sentence (`[CLS]` first) → class logits."""

import keras

from keras_attn.models.sentence_task import SentenceTask
from keras_attn.models.task import CLASSIFICATION


class Classifier(SentenceTask):
    """A `SentenceTask` trained and scored on a classification data task."""

    task_type = CLASSIFICATION

    @property
    def num_classes(self):
        return self.output.shape[-1]

    def default_loss_and_metrics(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        ]

    def fit_inputs(self, task, split):
        token_ids, labels = task.splits[split]
        return self.call_inputs(self.forward_inputs(token_ids)), labels

    def evaluate_task(self, task, split, batch_size=64, limit=None, beam_size=None):
        from keras_attn.training import scoring

        x, labels = self.fit_inputs(task, split)
        return {f"{split}_accuracy": scoring.accuracy(self, x, labels, batch_size)}
