"""Translate text with a trained model directory, and plot its attention.

A directory written by `keras-attn train` holds `model.keras`,
`config.json` and the vocabularies; the source side is tokenised by
characters (built-in `dates` task) or by pure-Python WordPiece (corpora),
so no TensorFlow is needed.
"""

import json
import os

import numpy as np

from keras_attn import decoding
from keras_attn.tasks import TOKENIZATION
from keras_attn.saving import load_model
from keras_attn.vocabulary import Vocabulary, pad_sequences
from keras_attn.wordpiece import WordPieceTokenizer


def text_encoder(tokenization, vocabulary):
    """`encode(text) → ids` in pure Python, as the task tokenised its text."""
    if tokenization == "characters":
        return lambda text: vocabulary.encode(list(text.lower()))
    if tokenization == "words":
        return lambda text: vocabulary.encode(text.split())
    return WordPieceTokenizer(vocabulary.tokens).encode


def text_decoder(tokenization, vocabulary):
    """`decode(ids) → text` up to `[END]`, as the task detokenises."""
    if tokenization == "characters":
        return lambda ids: "".join(vocabulary.decode(ids))
    if tokenization == "words":
        return lambda ids: " ".join(vocabulary.decode(ids))
    wordpiece = WordPieceTokenizer(vocabulary.tokens)
    return lambda ids: wordpiece.decode([vocabulary.ids[t] for t in vocabulary.decode(ids)])


class Translator:
    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.config = json.load(f)
        if self.config.get("family") != "seq2seq":
            raise ValueError(f"{directory} holds a {self.config.get('family')} model, not a translator.")
        self.model = load_model(os.path.join(directory, "model.keras"), compile=False)
        self.source_vocabulary = Vocabulary.load(os.path.join(directory, "source_vocabulary.txt"))
        self.target_vocabulary = Vocabulary.load(os.path.join(directory, "target_vocabulary.txt"))
        tokenization = TOKENIZATION[self.config["task"]]
        self.encode = text_encoder(tokenization, self.source_vocabulary)
        self.decode = text_decoder(tokenization, self.target_vocabulary)

    def translate(self, text, beam_size=None):
        """`(translation, source tokens, output tokens, attention (outputs × sources))`."""
        source_ids = self.encode(text)
        tokens = [self.source_vocabulary.tokens[i] for i in source_ids]
        ids = pad_sequences([source_ids])
        max_length = self.config.get("lengths", {}).get("max_target_length")
        if beam_size:
            result = decoding.beam_decode(self.model, ids, beam_size=beam_size, max_length=max_length)
        else:
            result = decoding.greedy_decode(self.model, ids, max_length=max_length)
        outputs = self.target_vocabulary.decode(result.tokens[0])
        attention = np.asarray(result.attention[0, : len(outputs)])
        return self.decode(result.tokens[0]), tokens, outputs, attention


def plot_attention(path, source_tokens, output_tokens, attention):
    """The attention heatmap (output tokens × source tokens), as in Fig. 3 of Bahdanau et al."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = max(2.5, 0.35 * len(output_tokens) + 1)
    figure, axes = plt.subplots(figsize=(max(3.0, 0.35 * len(source_tokens) + 1.5), height))
    axes.imshow(attention, cmap="gray", vmin=0.0, vmax=max(float(attention.max()), 1e-9))
    axes.set_xticks(range(len(source_tokens)), [repr(t)[1:-1] for t in source_tokens], rotation=90)
    axes.set_yticks(range(len(output_tokens)), output_tokens)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
