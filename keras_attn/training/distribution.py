"""Data-parallel training over every local device with `keras.distribution`."""

import keras


def distribute_over_local_devices():
    """Replicates variables over every local device and splits each batch
    across them; returns the number of devices.

    Call before building the model. The JAX backend runs it; on several
    hosts, call `jax.distributed.initialize()` first on each, and the same
    code spans all their devices.
    """
    if keras.backend.backend() != "jax":
        raise RuntimeError("Data-parallel training runs on the JAX backend: set KERAS_BACKEND=jax.")
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


def batch_multiple():
    """What every batch size must be a multiple of: the number of devices the
    batch is split over under the current distribution, else 1."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)]
