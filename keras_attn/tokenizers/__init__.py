"""Tokenization: text ↔ token ids, one interface for every tokenizer.

Every tokenizer is a `Tokenizer` (see `base.py`) over a `Vocabulary`: the
zoo's start with the reserved tokens, a published BERT's name their
special tokens; `[PAD]` is 0 in both:

- `encode(text) → [ids]`, `decode(ids) → text` (up to `[END]`, reserved
  tokens dropped), `pieces(ids) → [str]` (the tokens, e.g. for a plot);
- `in_graph()` gives the same tokenizer as TensorFlow ops, for the string
  signatures of an export (TensorFlow-only, imported lazily).

Tokenizations by name (what a task and its `config.json` record):
`characters` (the built-in `dates` task), `words` (`sentiment`),
`wordpiece` (lower-cased; BERT and SST-2; `tf_wordpiece` learns
vocabularies with tensorflow-text, and `WordPieceTokenizer` reproduces its
ids in pure Python), `bert_wordpiece` (a published BERT's vocabulary and
normalizer, as Hugging Face runs them) and `sentencepiece` (cased subwords, exact
detokenization: the translation corpora) and `marian_sentencepiece` (a
published Marian's SentencePiece models and vocabulary).

>>> tokenizer = CharacterTokenizer(Vocabulary.from_tokens("0123456789-"))
>>> tokenizer.encode("2018-05")
[9, 7, 8, 15, 17, 7, 12]
>>> tokenizer.decode([2, 9, 7, 8, 15, 3, 9])
'2018'
"""

from keras_attn import _lazy
from keras_attn.tokenizers.base import CharacterTokenizer, Tokenizer, WordTokenizer
from keras_attn.tokenizers.bert_wordpiece import BERT_SPECIAL_TOKENS, BertWordPieceTokenizer
from keras_attn.tokenizers.marian_sentencepiece import MARIAN_SPECIAL_TOKENS, MarianSentencePieceTokenizer
from keras_attn.tokenizers.sentencepiece import SentencePieceTokenizer
from keras_attn.tokenizers.vocabulary import Vocabulary
from keras_attn.tokenizers.wordpiece import WordPieceTokenizer

# TensorFlow-only modules, loaded when asked for.
__getattr__, _ = _lazy.submodules(__name__, ("tf_graph", "tf_wordpiece"))

TOKENIZERS = {cls.name: cls for cls in (CharacterTokenizer, WordTokenizer, WordPieceTokenizer, SentencePieceTokenizer,
                                         BertWordPieceTokenizer, MarianSentencePieceTokenizer)}



__all__ = ["BERT_SPECIAL_TOKENS", "BertWordPieceTokenizer", "CharacterTokenizer", "MARIAN_SPECIAL_TOKENS",
           "MarianSentencePieceTokenizer", "SentencePieceTokenizer", "TOKENIZERS",
           "Tokenizer", "Vocabulary",
           "WordPieceTokenizer", "WordTokenizer"]
