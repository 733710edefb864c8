"""The step and epoch arithmetic of a resumable training run.

A run is `total_steps` optimizer steps in epochs of `steps_per_epoch`
steps; the last epoch is shorter when `total_steps` is not a multiple. A
resumed run starts in the middle of an epoch, and a stopped one may end in
the middle of one: only whole epochs (and the short last one) are scored,
logged and written to the history.
"""


def epoch_segments(step, total_steps, steps_per_epoch):
    """Split the remaining steps into `fit` calls.

    Yields `(initial_epoch, epochs, steps_per_epoch)` triples: first the
    rest of a partly finished epoch, then the whole epochs, then a short
    last epoch when `total_steps` is not a multiple of `steps_per_epoch`.

    Example:

    ```python
    list(epoch_segments(13, 30, 10))  # [(1, 2, 7), (2, 3, 10)]
    ```
    """
    while step < total_steps:
        epoch, offset = divmod(step, steps_per_epoch)
        if offset or total_steps - step < steps_per_epoch:
            count = min(steps_per_epoch - offset, total_steps - step)
            yield epoch, epoch + 1, count
            step += count
        else:
            full = (total_steps - step) // steps_per_epoch
            yield epoch, epoch + full, steps_per_epoch
            step += full * steps_per_epoch


def epoch_complete(step, steps_per_epoch, total_steps):
    """Whether `step` finished steps end an epoch (or the whole run).

    Example:

    ```python
    epoch_complete(20, 10, 25), epoch_complete(23, 10, 25)  # True, False
    epoch_complete(25, 10, 25)  # True: the short last epoch
    ```
    """
    return step % steps_per_epoch == 0 or step >= total_steps
