"""Translate text with a trained model directory, and plot its attention.

A directory written by `keras-attn train` holds `model.keras`,
`config.json` and the vocabularies; the text is tokenized with the
run's tokenizer (`keras_attn.tokenizers`, pure Python), so no TensorFlow
is needed.
"""

import dataclasses

import numpy as np

from keras_attn import run_directory
from keras_attn.data.packing import source_packer
from keras_attn.inference import decoding


@dataclasses.dataclass
class Translation:
    text: str
    source_tokens: list  # what the model read (after any cut)
    output_tokens: list
    attention: np.ndarray  # (outputs, sources)
    source_length: int  # tokens in the input text; more than `source_tokens` when it was cut


class Translator:
    """Translates text with the model and tokenizers of a run directory.

    Text is read as the string-signature SavedModel of its export reads it:
    at most the export's `max_source_length` tokens (longer input is cut, and
    `Translation.source_length` says by how much), empty text as one padding
    token; the output has at most `max_target_length - 1` tokens.
    """

    def __init__(self, directory):
        self.config = run_directory.read_config(directory)
        self.model = run_directory.load_model(directory)
        decoding.generation_models(self.model)  # a translator, or a one-line refusal
        self.lengths = self.model.export_lengths(self.config["lengths"])
        tokenizers = run_directory.load_tokenizers(directory, self.config)
        self.source, self.target = tokenizers["source"], tokenizers["target"]
        self.packer = source_packer(self.source, self.lengths["max_source_length"], pad_to_max_length=False)

    def translate(self, text, beam_size=None):
        source_ids = self.source.encode(text)
        read = source_ids[: self.packer.content_length]
        ids, _ = self.packer.pack([source_ids])
        steps = self.lengths["max_target_length"] - 1
        if beam_size is not None:
            result = self.model.beam_generate(ids, beam_size=beam_size, max_length=steps)
        else:
            result = self.model.generate(ids, max_length=steps)
        outputs = self.target.pieces(result.tokens[0])
        attention = np.asarray(result.attention[0, : len(outputs), : len(read)])
        return Translation(self.target.decode(result.tokens[0]), self.source.pieces(read), outputs, attention,
                           len(source_ids))


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
