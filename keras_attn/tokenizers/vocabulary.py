"""Token ↔ id mapping shared by the synthetic tasks, decoding and the runtimes.

Pure Python and numpy, so exported models can be driven without Keras.
"""

import numpy as np

PAD, UNK, START, END, CLS, SEP, MASK = "[PAD]", "[UNK]", "[START]", "[END]", "[CLS]", "[SEP]", "[MASK]"
RESERVED_TOKENS = (PAD, UNK, START, END, CLS, SEP, MASK)
PAD_ID, UNK_ID, START_ID, END_ID, CLS_ID, SEP_ID, MASK_ID = range(len(RESERVED_TOKENS))


class Vocabulary:
    """A list of tokens whose first entries are `RESERVED_TOKENS`.

    Example:
    >>> vocabulary = Vocabulary.from_tokens(list("abc"))
    >>> vocabulary.encode(list("cab"), add_start_end=True)
    [2, 9, 7, 8, 3]
    >>> "".join(vocabulary.decode([9, 7, 3, 8]))
    'ca'
    """

    def __init__(self, tokens):
        tokens = list(tokens)
        if tuple(tokens[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(f"`tokens` must start with the reserved tokens {list(RESERVED_TOKENS)}.")
        if len(set(tokens)) != len(tokens):
            raise ValueError("`tokens` has duplicates.")
        self.tokens = tokens
        self.ids = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def from_tokens(cls, tokens):
        """Reserved tokens followed by `tokens` in first-seen order, without duplicates."""
        extra = [t for t in dict.fromkeys(tokens) if t not in RESERVED_TOKENS]
        return cls(list(RESERVED_TOKENS) + extra)

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens, add_start_end=False):
        ids = [self.ids.get(token, UNK_ID) for token in tokens]
        return [START_ID] + ids + [END_ID] if add_start_end else ids

    def decode(self, ids):
        """Tokens up to the first `[END]`, without padding or `[START]`."""
        tokens = []
        for i in np.asarray(ids).tolist():
            if i == END_ID:
                break
            if i not in (PAD_ID, START_ID):
                tokens.append(self.tokens[i])
        return tokens

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.tokens) + "\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(line.rstrip("\n") for line in f if line.rstrip("\n"))
