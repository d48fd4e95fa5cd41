"""Published checkpoints in and out of the zoo's models: Hugging Face BERT
directories (`huggingface_bert`). Numpy and safetensors; no PyTorch.

>>> from keras_attn import checkpoints
>>> sorted(checkpoints.huggingface_bert.ARCHITECTURES)
['BertForMaskedLM', 'BertForSequenceClassification', 'BertModel']
"""

from keras_attn.checkpoints import huggingface_bert

__all__ = ["huggingface_bert"]
