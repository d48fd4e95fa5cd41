"""Token ↔ id mapping shared by the synthetic tasks, decoding and the runtimes.

Pure Python and numpy, so exported models can be driven without Keras.
"""

import numpy as np

PAD, UNK, START, END, CLS, SEP, MASK = "[PAD]", "[UNK]", "[START]", "[END]", "[CLS]", "[SEP]", "[MASK]"
RESERVED_TOKENS = (PAD, UNK, START, END, CLS, SEP, MASK)
PAD_ID, UNK_ID, START_ID, END_ID, CLS_ID, SEP_ID, MASK_ID = range(len(RESERVED_TOKENS))


# The roles a special token can play, and the zoo's own reserved token for each.
ROLES = dict(zip(("pad", "unk", "start", "end", "cls", "sep", "mask"), RESERVED_TOKENS))


class Vocabulary:
    """A list of tokens, with the special tokens it uses.

    The zoo's own vocabularies start with `RESERVED_TOKENS` (ids 0-6). A
    published one (a Hugging Face BERT's `vocab.txt`) keeps its order and
    names its special tokens in `special_tokens` (`{role: token}`, roles
    from `ROLES`; one token may play two roles, as Marian's `<pad>` is also
    where decoding starts). Its padding id is the model's: the zoo's
    vocabularies and BERT's pad with 0, Marian's with its last id.

    Example:
    >>> vocabulary = Vocabulary.from_tokens(list("abc"))
    >>> vocabulary.encode(list("cab"), add_start_end=True)
    [2, 9, 7, 8, 3]
    >>> "".join(vocabulary.decode([9, 7, 3, 8]))
    'ca'
    >>> published = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi"], {"pad": "[PAD]", "unk": "[UNK]",
    ...                        "cls": "[CLS]", "sep": "[SEP]"})
    >>> published.cls_id, published.end_id
    (2, None)
    """

    def __init__(self, tokens, special_tokens=None):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens):
            raise ValueError("`tokens` has duplicates.")
        self.tokens = tokens
        self.ids = {token: i for i, token in enumerate(tokens)}
        if special_tokens is None:
            if tuple(tokens[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
                raise ValueError(f"`tokens` must start with the reserved tokens {list(RESERVED_TOKENS)}.")
        else:
            unknown = sorted(set(special_tokens) - set(ROLES))
            if unknown:
                raise ValueError(f"`special_tokens` has unknown roles {unknown}; roles: {list(ROLES)}.")
            absent = sorted(token for token in special_tokens.values() if token not in self.ids)
            if absent:
                raise ValueError(f"`special_tokens` names tokens the vocabulary lacks: {absent}.")
            for role in ("pad", "unk"):
                if role not in special_tokens:
                    raise ValueError(f"`special_tokens` must name the {role!r} token.")
        self.special_tokens = dict(ROLES if special_tokens is None else special_tokens)
        for role in ROLES:
            token = self.special_tokens.get(role)
            setattr(self, f"{role}_id", None if token is None else self.ids[token])

    @property
    def special_ids(self):
        """The ids of every special token (dropped by `decode` and the in-graph detokenizers)."""
        return sorted({self.ids[token] for token in self.special_tokens.values()})

    @classmethod
    def from_tokens(cls, tokens):
        """Reserved tokens followed by `tokens` in first-seen order, without duplicates."""
        extra = [t for t in dict.fromkeys(tokens) if t not in RESERVED_TOKENS]
        return cls(list(RESERVED_TOKENS) + extra)

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens, add_start_end=False):
        ids = [self.ids.get(token, self.unk_id) for token in tokens]
        return [self.start_id] + ids + [self.end_id] if add_start_end else ids

    def decode(self, ids):
        """Tokens up to the first end token, without padding or the start token."""
        tokens = []
        for i in np.asarray(ids).tolist():
            if i == self.end_id:
                break
            if i not in (self.pad_id, self.start_id):
                tokens.append(self.tokens[i])
        return tokens

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.tokens) + "\n")

    @classmethod
    def load(cls, path, special_tokens=None):
        with open(path, encoding="utf-8") as f:
            return cls((line.rstrip("\n") for line in f if line.rstrip("\n")), special_tokens)
