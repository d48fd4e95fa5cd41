"""Learning-rate schedules."""

import keras
from keras import ops

from keras_attn.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class WarmupInverseSqrtSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`lr = scale * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)`.

    The schedule of Vaswani et al. (2017), eq. 3: linear warm-up, then decay
    with the inverse square root of the step (counted from 1).

    Example:
    >>> schedule = WarmupInverseSqrtSchedule(d_model=512, warmup_steps=4000)
    >>> round(float(schedule(3999)), 6)   # the peak, at step 4000
    0.000699
    """

    def __init__(self, d_model, warmup_steps=4000, scale=1.0):
        self.d_model = check_positive_int("d_model", d_model)
        self.warmup_steps = check_positive_int("warmup_steps", warmup_steps)
        self.scale = float(scale)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warmup = ops.cast(self.warmup_steps, "float32")
        rate = ops.minimum(ops.rsqrt(step), step * warmup**-1.5)
        return self.scale * self.d_model**-0.5 * rate

    def get_config(self):
        return {"d_model": self.d_model, "warmup_steps": self.warmup_steps, "scale": self.scale}
