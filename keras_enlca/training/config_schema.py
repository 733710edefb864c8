"""The training configuration's schema: one dataclass per config section.

`TrainConfig` is the whole run; the loading (`config.load_config`), the
checks (`config_checks`) and the type coercion (`config_coercion`) live
beside it.
"""

import dataclasses

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


DATA_TYPES = ("auto", "div2k", "folder", "paired")


@dataclasses.dataclass
class DataSourceConfig:
    """Where a set of training or validation images lives.

    Args:
        type: `"div2k"` (the DIV2K layout: `dir` holds `DIV2K_train_HR/`
            and optionally `DIV2K_train_LR_bicubic/X{s}/`), `"folder"` (a
            folder of HR images; LR made by MATLAB-compatible bicubic
            downscaling), `"paired"` (HR images in `dir`, LR images in
            `lr_dir`) or `"auto"` (div2k when `dir` has the DIV2K layout,
            paired when `lr_dir` is set, folder otherwise).
        dir: the DIV2K root or the HR folder.
        lr_dir: the LR folder (paired data only).
        range: DIV2K image numbers, e.g. `"1-800"` (reference training
            split) or `"801-810"`. Ignored by the other types.
    """

    type: str = "auto"
    dir: str | None = None
    lr_dir: str | None = None
    range: str | None = None


@dataclasses.dataclass
class ModelConfig:
    """The network.

    Args:
        preset: a preset name from `keras_enlca.models.list_presets()`
            (`"enlcn_x4"`, `"enlcn_small_x2"`), or a family name without
            the scale suffix (`"enlcn"`, `"a2n_small"`) completed by the
            top-level `scale`.
        args: constructor overrides for the preset, e.g. `{num_blocks: 8}`.
    """

    preset: str | None = None
    args: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DataConfig:
    """Training and validation data.

    Args:
        train: the training images (`DataSourceConfig`).
        validation: optional held-out images, scored (Y-PSNR/SSIM) every
            `runtime.validate_every` epochs.
        patch_size: the LR patch size; the HR patch is `patch_size * scale`
            (reference: 48, i.e. `--patch_size 192` at x4).
        batch_size: the global batch size, split over replicas.
        augment: random flips and transposes (all 8 dihedral transforms).
        validation_images: score at most this many validation images
            (None: all).
    """

    train: DataSourceConfig = dataclasses.field(default_factory=DataSourceConfig)
    validation: DataSourceConfig | None = None
    patch_size: int = 48
    batch_size: int = 16
    augment: bool = True
    validation_images: int | None = None


@dataclasses.dataclass
class ScheduleConfig:
    """Length of the run, optimizer and learning-rate steps.

    Args:
        epochs: number of epochs. Exactly one of `epochs` and `total_steps`
            is set (reference: 1000).
        steps_per_epoch: optimizer steps per epoch (reference `test_every`:
            1000).
        total_steps: the run length in steps instead of epochs; the last
            epoch is then shorter.
        learning_rate: the initial learning rate (reference 1e-4).
        decay_milestones: epochs at which the learning rate is multiplied by
            `decay_factor` (reference 200-400-600-800).
        decay_factor: the step-decay factor (reference 0.5).
        beta_1, beta_2, epsilon: Adam settings (reference 0.9, 0.999, 1e-8).
        projection_redraw_interval: redraw the ENLCA random projections
            every this many steps (reference 640); None or 0 never redraws.
    """

    epochs: int | None = 1000
    steps_per_epoch: int = 1000
    total_steps: int | None = None
    learning_rate: float = 1e-4
    decay_milestones: list[int] = dataclasses.field(
        default_factory=lambda: [200, 400, 600, 800]
    )
    decay_factor: float = 0.5
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    projection_redraw_interval: int | None = 640


@dataclasses.dataclass
class ContrastiveConfig:
    """The ENLCA contrastive loss (ignored by networks without ENLCA).

    Args:
        weight: λ in `L1 + λ·L_cl` (reference 1e-3); 0 turns it off.
        warmup_epochs: epochs trained with L1 only (reference code: 101,
            `last_epoch > 100`; the paper says 150).
        warmup_steps: the warm-up in steps instead of epochs; set at most
            one of the two.
        form: `"code"` (the released code's loss) or `"paper"`; None keeps
            the preset's choice.
    """

    weight: float = 1e-3
    warmup_epochs: int | None = 101
    warmup_steps: int | None = None
    form: str | None = None


@dataclasses.dataclass
class RuntimeConfig:
    """How the run executes.

    Args:
        strategy: `"auto"` (MultiWorkerMirroredStrategy when TF_CONFIG or
            `srun` describes several workers, else MirroredStrategy when
            several GPUs are visible, else one device), `"one_device"`,
            `"mirrored"` or `"multi_worker"` (see the README, "Several
            machines").
        mixed_precision: train under the `mixed_float16` policy.
        jit_compile: compile the train step with XLA.
        seed: the random seed (reference 1).
        checkpoint_every: save a resumable checkpoint every this many steps
            (and at every epoch end).
        keep_checkpoints: how many resumable checkpoints to keep.
        validate_every: score the validation set every this many epochs.
        time_limit_minutes: stop cleanly (with a checkpoint) after this
            long; running the command again continues.
    """

    strategy: str = "auto"
    mixed_precision: bool = False
    jit_compile: bool = False
    seed: int = 1
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    validate_every: int = 1
    time_limit_minutes: float | None = None


@dataclasses.dataclass
class TrainConfig:
    """A whole training run.

    Build one with `load_config()`; `to_dict()` gives the plain form that
    `enlca train` writes to `RUN_DIR/config.yaml`.

    Args:
        model: the network (`ModelConfig`).
        scale: the upscaling factor; None takes it from the preset name.
        data: the data (`DataConfig`).
        schedule: run length, optimizer, learning-rate steps
            (`ScheduleConfig`).
        contrastive: the ENLCA contrastive loss (`ContrastiveConfig`).
        runtime: devices, precision, checkpoints (`RuntimeConfig`).

    Example:

    ```python
    config = load_config(
        "configs/enlcn_x4_paper.yaml",
        overrides=["schedule.epochs=2", "data.batch_size=4"],
    )
    config.total_steps  # 2000 (2 epochs of 1000 steps)
    ```
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    scale: int | None = None
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    contrastive: ContrastiveConfig = dataclasses.field(
        default_factory=ContrastiveConfig
    )
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def total_steps(self):
        """The run length in optimizer steps."""
        if self.schedule.total_steps is not None:
            return self.schedule.total_steps
        return self.schedule.epochs * self.schedule.steps_per_epoch

    @property
    def num_epochs(self):
        """The number of (possibly partial) epochs the run has."""
        spe = self.schedule.steps_per_epoch
        return -(-self.total_steps // spe)

    @property
    def contrastive_warmup_steps(self):
        """The contrastive warm-up in optimizer steps."""
        c = self.contrastive
        if c.warmup_steps is not None:
            return c.warmup_steps
        return (c.warmup_epochs or 0) * self.schedule.steps_per_epoch


# Pairs of alternatives: setting the second (and not the first) in a file or
# an override clears the first, whatever the defaults said.
ALTERNATIVES = (
    ("schedule.epochs", "schedule.total_steps"),
    ("schedule.total_steps", "schedule.epochs"),
    ("contrastive.warmup_epochs", "contrastive.warmup_steps"),
    ("contrastive.warmup_steps", "contrastive.warmup_epochs"),
)
