"""SentencePiece subwords (Kudo and Richardson 2018): cased text, detokenized
exactly, for translation. The `sentencepiece` package trains the model and
tokenizes without TensorFlow; in a graph, tensorflow-text's
`SentencepieceTokenizer` runs the same model (`in_graph`), with the same ids.

The model's first ids are keras-attn's reserved tokens ([PAD] 0, [UNK] 1,
[START] 2, [END] 3, then [CLS], [SEP], [MASK]), so padding and decoding work
as for every other tokenizer.

Example:
>>> sentences = ["Where is the station?", "The station is there.", "Is it here?"] * 50
>>> tokenizer = SentencePieceTokenizer.learn(sentences, 40)
>>> tokenizer.decode(tokenizer.encode("Where is the station?"))
'Where is the station?'
"""

import io
import os

import numpy as np

from keras_attn.tokenizers.base import Tokenizer
from keras_attn.tokenizers.vocabulary import CLS, END, MASK, PAD, RESERVED_TOKENS, SEP, START, UNK


class SentencePieceTokenizer(Tokenizer):
    """Text ↔ ids with a SentencePiece model (`model_proto`: its serialized bytes)."""

    name = "sentencepiece"

    def __init__(self, model_proto):
        import sentencepiece  # only where a SentencePiece model is used (the GPU machine need not have it)

        self.model_proto = bytes(model_proto)
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=self.model_proto)
        super().__init__([self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())])

    @classmethod
    def learn(cls, sentences, vocabulary_size):
        """A unigram model of `vocabulary_size` pieces learned on `sentences`
        (every character kept; the size shrinks to what a small corpus allows)."""
        import sentencepiece

        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocabulary_size, model_type="unigram",
            character_coverage=1.0, hard_vocab_limit=False, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            pad_piece=PAD, unk_piece=UNK, bos_piece=START, eos_piece=END, user_defined_symbols=[CLS, SEP, MASK],
            minloglevel=2, num_threads=os.cpu_count() or 1,
        )
        return cls(model.getvalue())

    def encode(self, text):
        return self.processor.encode(text)

    def split(self, text):
        return self.processor.encode(text, out_type=str)

    def join(self, tokens):
        return self.processor.decode_pieces(list(tokens))

    def decode(self, ids):
        real = [self.vocabulary.ids[token] for token in self.pieces(ids) if token not in RESERVED_TOKENS]
        return self.processor.decode(real)

    def files(self, side):
        return super().files(side) + [f"{side}_sentencepiece.model"]

    def save(self, directory, side):
        super().save(directory, side)
        with open(os.path.join(directory, f"{side}_sentencepiece.model"), "wb") as f:
            f.write(self.model_proto)

    @classmethod
    def load(cls, directory, side):
        path = os.path.join(directory, f"{side}_sentencepiece.model")
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return cls(f.read())

    def arrays(self, side):
        return {**super().arrays(side), f"{side}_sentencepiece": np.frombuffer(self.model_proto, np.uint8)}

    @classmethod
    def from_arrays(cls, arrays, side):
        key = f"{side}_sentencepiece"
        return cls(arrays[key].tobytes()) if key in arrays else None

    def in_graph(self):
        from keras_attn.tokenizers import tf_graph

        return tf_graph.sentencepiece(self)
