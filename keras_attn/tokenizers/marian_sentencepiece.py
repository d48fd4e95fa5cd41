"""The tokenizer of a published Marian (opus-mt) model, as Hugging Face's
`MarianTokenizer` runs it. Pure Python, with the `sentencepiece` package.

A Marian directory holds a SentencePiece model per language (`source.spm`,
`target.spm`) and one `vocab.json` that gives every piece its id: the ids
are the vocabulary's, not the SentencePiece model's. Encoding splits the
text into pieces with the side's model, maps them through the vocabulary
(`<unk>` for a piece it lacks), and the source packer appends `</s>`
(`source_special_ids`, kept when the text is cut); decoding maps ids back
to pieces, drops the special tokens and joins the pieces with the model.
The text is not normalized first: `MarianTokenizer` normalizes punctuation
only when `sacremoses` is installed, and CTranslate2 never does.

Example:
>>> import io, sentencepiece
>>> model = io.BytesIO()
>>> sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(["la casa es azul", "el perro come"] * 20),
...     model_writer=model, vocab_size=24, hard_vocab_limit=False, unk_id=0, bos_id=-1, eos_id=-1, minloglevel=2)
>>> processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
>>> pieces = [processor.id_to_piece(i) for i in range(1, processor.get_piece_size())]
>>> vocabulary = Vocabulary(["</s>", "<unk>"] + pieces[::-1] + ["<pad>"], MARIAN_SPECIAL_TOKENS)
>>> tokenizer = MarianSentencePieceTokenizer(model.getvalue(), vocabulary)
>>> ids = tokenizer.encode("la casa es azul")
>>> [tokenizer.tokens[i] for i in ids] == tokenizer.split("la casa es azul")  # the vocabulary's ids
True
>>> tokenizer.decode(ids + [vocabulary.end_id])
'la casa es azul'
"""

import io
import json
import os

import numpy as np

from keras_attn.tokenizers.base import Tokenizer
from keras_attn.tokenizers.vocabulary import Vocabulary

# Marian's special tokens by role: decoding starts from the padding token.
MARIAN_SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "end": "</s>", "start": "<pad>"}


class MarianSentencePieceTokenizer(Tokenizer):
    """Text ↔ ids with one side's SentencePiece model (`model_proto`, its
    serialized bytes) and the shared `vocabulary` (a `Vocabulary` naming
    pad, unk, end and start tokens)."""

    name = "marian_sentencepiece"
    shared_vocabulary = True

    def __init__(self, model_proto, vocabulary):
        import sentencepiece  # only where a SentencePiece model is used (the GPU machine need not have it)

        super().__init__(vocabulary)
        missing = sorted(role for role in MARIAN_SPECIAL_TOKENS if getattr(self.vocabulary, f"{role}_id") is None)
        if missing:
            raise ValueError(f"`vocabulary` names no {', '.join(missing)} token; Marian needs {sorted(MARIAN_SPECIAL_TOKENS)}.")
        self.model_proto = bytes(model_proto)
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=self.model_proto)

    @classmethod
    def learn(cls, sentences, vocabulary_size):
        """One unigram model learned on `sentences` (both languages' for a
        joint vocabulary), in Marian's layout: `</s>` 0, `<unk>` 1, the
        pieces, `<pad>` last, so `vocabulary_size` ids in all (fewer where a
        small corpus allows fewer pieces)."""
        import sentencepiece

        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocabulary_size - 2,
            model_type="unigram", character_coverage=1.0, hard_vocab_limit=False, unk_id=0, bos_id=-1, eos_id=-1,
            minloglevel=2, num_threads=os.cpu_count() or 1,
        )
        processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
        pieces = [processor.id_to_piece(i) for i in range(1, processor.get_piece_size())]  # 0 is its <unk>
        return cls(model.getvalue(), Vocabulary(["</s>", "<unk>"] + pieces + ["<pad>"], MARIAN_SPECIAL_TOKENS))

    def split(self, text):
        return self.processor.encode(text, out_type=str)

    def source_special_ids(self):
        return [], [self.vocabulary.end_id]

    def join(self, tokens):
        return self.processor.decode_pieces(list(tokens))

    def sentencepiece_ids(self):
        """The SentencePiece model's id of every vocabulary token (its unknown id
        for tokens it lacks): how the in-graph detokenizer reaches the model."""
        return [self.processor.piece_to_id(token) for token in self.tokens]

    # --- Persistence: the side's SentencePiece model, and the vocabulary with its special tokens. ---

    def files(self, side):
        return [f"{side}_marian_vocabulary.json", f"{side}_marian.spm"]

    def save(self, directory, side):
        with open(os.path.join(directory, f"{side}_marian_vocabulary.json"), "w", encoding="utf-8") as f:
            json.dump(self._vocabulary_record(), f, ensure_ascii=False)
        with open(os.path.join(directory, f"{side}_marian.spm"), "wb") as f:
            f.write(self.model_proto)

    def _vocabulary_record(self):
        return {"tokens": self.tokens, "special_tokens": self.vocabulary.special_tokens}

    @classmethod
    def _from_record(cls, model_proto, record):
        return cls(model_proto, Vocabulary(record["tokens"], record["special_tokens"]))

    @classmethod
    def load(cls, directory, side):
        path = os.path.join(directory, f"{side}_marian_vocabulary.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        with open(os.path.join(directory, f"{side}_marian.spm"), "rb") as f:
            return cls._from_record(f.read(), record)

    def arrays(self, side):
        return {f"{side}_marian_vocabulary": np.array(json.dumps(self._vocabulary_record())),
                f"{side}_marian_spm": np.frombuffer(self.model_proto, np.uint8)}

    @classmethod
    def from_arrays(cls, arrays, side):
        key = f"{side}_marian_vocabulary"
        if key not in arrays:
            return None
        return cls._from_record(arrays[f"{side}_marian_spm"].tobytes(), json.loads(str(arrays[key])))

    def in_graph(self):
        from keras_attn.tokenizers import tf_graph

        return tf_graph.marian_sentencepiece(self)
