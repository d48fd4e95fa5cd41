"""Data-parallel training with `keras.distribution`: over the devices of one
process, or over several processes (hosts) started together.

Several processes run the same command; `keras.distribution.initialize`
joins them (from the `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
`KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`
environment variables), each feeds its own block of every batch's rows
(`process_shard`), and the variables stay equal on all of them. Only process
0 writes the run (`keras_attn.training.recipes`); training over, every
process leaves the group (`end_processes`) and process 0 scores alone.
"""

import os

import keras

PROCESS_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                     "KERAS_DISTRIBUTION_PROCESS_ID")


def _check_jax(what):
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"{what} runs on the JAX backend: set KERAS_BACKEND=jax.")


def started_as_process():
    """Whether the environment names this process one of several (`PROCESS_VARIABLES`)."""
    return any(os.environ.get(name) for name in PROCESS_VARIABLES)


def initialize_processes():
    """Joins the processes that the environment variables describe; call it
    first, before any computation (and before `distribute_over_devices`).
    Returns `(this process's index, the number of processes)`.

    Collectives between CPU processes go through gloo (JAX has none by
    default); GPUs use their own.
    """
    missing = [name for name in PROCESS_VARIABLES if not os.environ.get(name)]
    if missing:
        raise ValueError(f"Several processes need all of {', '.join(PROCESS_VARIABLES)}; missing: {', '.join(missing)}.")
    _check_jax("Training over several processes")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize()
    return process_shard()


def distribute_over_devices():
    """Replicates variables over every device of every process and splits
    each batch across them; returns the number of devices.

    Call before building the model. Each process feeds its own rows of each
    batch (`LengthBucketedBatches(shard=process_shard())`), so Keras does
    not shard the data itself.
    """
    _check_jax("Data-parallel training")
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    return len(devices)


def process_shard():
    """`(index, count)`: this process's index among the processes training
    together, and their number (`(0, 1)` for one process)."""
    if keras.backend.backend() != "jax":
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


def end_processes():
    """Ends training over several processes (nothing for one): every process
    leaves the group at once, so none waits at exit for process 0's scoring,
    and models built or loaded from here on live on this process alone. The
    trained variables stay readable."""
    if process_shard()[1] == 1:
        return
    import jax

    jax.distributed.shutdown()
    keras.distribution.set_distribution(None)


def batch_multiple():
    """What every batch size must be a multiple of: the number of devices the
    batch is split over under the current distribution, else 1."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)]
