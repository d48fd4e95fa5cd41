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
from keras_attn.saving import load_model
from keras_attn.vocabulary import Vocabulary, pad_sequences
from keras_attn.wordpiece import WordPieceTokenizer


class Translator:
    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.config = json.load(f)
        if self.config.get("family") != "seq2seq":
            raise ValueError(f"{directory} holds a {self.config.get('family')} model, not a translator.")
        self.model = load_model(os.path.join(directory, "model.keras"), compile=False)
        self.source_vocabulary = Vocabulary.load(os.path.join(directory, "source_vocabulary.txt"))
        self.target_vocabulary = Vocabulary.load(os.path.join(directory, "target_vocabulary.txt"))
        self.characters = self.config["task"] == "dates"
        if not self.characters:
            self.source_tokenizer = WordPieceTokenizer(self.source_vocabulary.tokens)
            self.target_tokenizer = WordPieceTokenizer(self.target_vocabulary.tokens)

    def source_tokens(self, text):
        if self.characters:
            return list(text.lower())
        return [self.source_vocabulary.tokens[i] for i in self.source_tokenizer.encode(text)]

    def translate(self, text, beam_size=None):
        """`(translation, source tokens, output tokens, attention (outputs × sources))`."""
        tokens = self.source_tokens(text)
        ids = pad_sequences([self.source_vocabulary.encode(tokens)])
        max_length = self.config.get("lengths", {}).get("max_target_length")
        if beam_size:
            result = decoding.beam_decode(self.model, ids, beam_size=beam_size, max_length=max_length)
        else:
            result = decoding.greedy_decode(self.model, ids, max_length=max_length)
        outputs = self.target_vocabulary.decode(result.tokens[0])
        attention = np.asarray(result.attention[0, : len(outputs)])
        if self.characters:
            translation = "".join(outputs)
        else:
            translation = self.target_tokenizer.decode([self.target_vocabulary.ids[t] for t in outputs])
        return translation, tokens, outputs, attention


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
