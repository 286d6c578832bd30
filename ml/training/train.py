"""Train a segmentation model: ``python -m ml.training.train --model sinet --data DIR [DIR ...] --out DIR``.

Everything a run needs to continue after a kill lives in ``--out``: ``last.keras`` (weights and
optimizer state, saved every epoch), ``state.json`` (epoch, best validation IoU, epochs without
improvement), ``log.csv`` and ``split.json``. ``--resume`` picks up from there; the learning rate
follows a polynomial decay computed from the epoch number, so it too survives a restart.

On a lent GPU machine (docs/training.md) a run has minutes, not epochs: ``--pack-to DIR`` writes the
training data small enough to carry there (``ml.training.pack``), ``--packed DIR`` trains from it, and
``--max-minutes`` decays the rate over the time given and stops before it runs out.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import keras
import numpy as np

from ml.arguments import input_size, non_negative_float, positive_int, probability
from ml.atomic import atomic_path, write_atomic
from ml.backgrounds import OUT as BACKGROUNDS
from ml.backgrounds import load_backgrounds
from ml.catalogue import MODELS, table
from ml.data import (DatasetError, Sample, cutouts_of, discover_all, load_letterboxed, load_or_make_split, select,
                     teacher_labelled, teacher_masks, with_bystanders_ignored)
from ml.scenes import Cutout, make_cutout
from ml.teachers import BYSTANDER_TEACHERS, ENSEMBLE
from ml.teachers.label import OUT as LABELS
from ml.training.batches import SegmentationBatches, Synthesis
from ml.training.distil import SOURCES as DISTIL_SOURCES
from ml.training.distil import SoftTargets
from ml.training.losses import LOSSES, Distilled, MaskedIoU, get_loss
from ml.training.models import BUILDERS, build_model, copy_weights, load_keras_model
from ml.training.models.mobile_unet import UPSAMPLING
from ml.training.pack import Pack, PackError, load_pack, save_pack

DEFAULT_LOSS: dict[str, str] = table("loss")
DEFAULT_LR = 2e-3
MONITOR = "val_iou"


@dataclass
class RunState:
    """What must survive a restart besides the model itself."""

    epoch: int = 0            # epochs completed
    best_iou: float = -1.0
    best_epoch: int = -1
    wait: int = 0             # epochs since the last improvement
    stopped_early: bool = False

    @classmethod
    def load(cls, path: Path) -> "RunState":
        return cls(**json.loads(path.read_text())) if path.is_file() else cls()

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=1))


class Checkpointer(keras.callbacks.Callback):
    """Saves last/best checkpoints every epoch, keeps RunState, stops early, redraws the curves.

    An epoch counts as an improvement only when it beats the best validation IoU by more than
    ``min_delta``: at a floor learning rate a model can creep up by 0.0001 every few epochs, far
    below the epoch-to-epoch noise of a few hundred validation images, and never stop otherwise.
    """

    def __init__(self, out: Path, state: RunState, patience: int, min_delta: float = 0.0,
                 deadline: float | None = None, keep_epochs: int = 0):
        super().__init__()
        self.out, self.state, self.patience, self.min_delta = out, state, patience, min_delta
        self.keep_epochs = keep_epochs
        self.deadline, self.epoch_started, self.durations = deadline, time.monotonic(), []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def _out_of_time(self) -> bool:
        """Whether another epoch as long as the longest so far would end past the deadline. The first
        epoch is left out once there are others: it includes compiling the model (a minute on JAX),
        and counting it stopped the lent GPU's runs a minute and a half early."""
        now = time.monotonic()
        self.durations.append(now - self.epoch_started)
        return self.deadline is not None and now + max(self.durations[1:] or self.durations) > self.deadline

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        iou = float((logs or {}).get(MONITOR, -1.0))
        self.state.epoch = epoch + 1
        if iou > self.state.best_iou + self.min_delta:
            self.state.best_iou, self.state.best_epoch, self.state.wait = iou, epoch + 1, 0
            _atomic_save(self.model, self.out / "best.keras")
        else:
            self.state.wait += 1
        if self.state.wait >= self.patience:
            self.state.stopped_early = True
            self.model.stop_training = True
        if self._out_of_time():
            self.model.stop_training = True  # not stopped_early: --resume goes on
        _atomic_save(self.model, self.out / "last.keras")
        self._keep_epoch(epoch + 1)
        self.state.save(self.out / "state.json")
        plot_curves(self.out / "log.csv", self.out / "curves.png")

    def _keep_epoch(self, number: int) -> None:
        """With ``keep_epochs``, also keep this epoch's weights as ``epochNNN.keras`` (a copy of
        ``last.keras``, just saved) and drop the one that falls out of the window: the late epochs of a
        run are what ``ml.training.average`` takes."""
        if not self.keep_epochs:
            return
        with atomic_path(self.out / epoch_file(number), suffix=".keras") as tmp:
            shutil.copyfile(self.out / "last.keras", tmp)
        (self.out / epoch_file(number - self.keep_epochs)).unlink(missing_ok=True)


def epoch_file(number: int) -> str:
    return f"epoch{number:03d}.keras"


def _atomic_save(model: keras.Model, path: Path) -> None:
    with atomic_path(path, suffix=".keras") as tmp:   # Keras picks the format by the name
        model.save(tmp)


def plot_curves(csv_path: Path, png_path: Path) -> None:
    """Loss and IoU per epoch, train and validation, as a PNG next to the log."""
    import csv

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not csv_path.is_file():
        return
    rows = list(csv.DictReader(csv_path.open()))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "iou")):
        for prefix in ("", "val_"):
            if prefix + key in rows[0]:
                ax.plot(epochs, [float(r[prefix + key]) for r in rows], label=prefix + key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


def poly_decay(lr: float, epochs: int, power: float = 0.9, seconds: float | None = None,
               clock=time.monotonic):
    """Learning rate for an epoch: ``lr * (1 - progress) ** power``, floored at 1 % of ``lr``, where
    progress is ``epoch / epochs`` or, given ``seconds``, the share of that time spent since the
    first call if that is further on.

    Past ``epochs`` the rate stays at the floor, so a run given more epochs than its decay can go on
    at the floor rate until early stopping says validation IoU has stopped improving.
    """
    started: float | None = None

    def rate(epoch: int) -> float:
        nonlocal started
        started = clock() if started is None else started
        progress = max(epoch / epochs, (clock() - started) / seconds if seconds else 0.0)
        return max(lr * max(1.0 - progress, 0.0) ** power, lr * 0.01)
    return rate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(BUILDERS))
    parser.add_argument("--data", nargs="+", help="dataset folders (images/ + masks/); needed unless --packed")
    parser.add_argument("--out", required=True, type=Path, help="run folder for checkpoints and logs")
    parser.add_argument("--epochs", type=positive_int, default=150, help="maximum epochs (default 150)")
    parser.add_argument("--batch", type=positive_int, default=16)
    parser.add_argument("--size", type=input_size,
                        help="square input size, multiple of 32 (default: the model's, "
                             f"{_per_model('input_size')})")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help="initial learning rate")
    parser.add_argument("--decay-epochs", type=positive_int,
                        help="epochs over which the rate decays to its floor (1 %% of --lr), then stays there; "
                             "default --epochs")
    parser.add_argument("--loss", choices=sorted(LOSSES),
                        help=f"default: the model's, {_per_model('loss')}")
    parser.add_argument("--patience", type=positive_int, default=15,
                        help="early stopping: epochs without val IoU gain")
    parser.add_argument("--min-delta", type=non_negative_float, default=0.0,
                        help="early stopping: smallest val IoU gain that counts as one (default 0)")
    parser.add_argument("--teacher-data", nargs="*", type=Path, default=[],
                        help="folders of photos without masks, trained on with the teachers' labels "
                             "(python -m ml.teachers.label first)")
    parser.add_argument("--labels", type=Path, default=LABELS,
                        help="teacher label cache: ensemble labels and bystanders in the datasets (default %(default)s)")
    parser.add_argument("--backgrounds", type=Path, default=BACKGROUNDS,
                        help="person-free backgrounds (python -m ml.backgrounds first; default %(default)s)")
    parser.add_argument("--scenes", type=probability, default=0.3, help="share of synthetic scenes (default 0.3)")
    parser.add_argument("--mosaics", type=probability, default=0.1, help="share of mosaics (default 0.1)")
    parser.add_argument("--composite", type=probability, default=0.15,
                        help="share of photos whose person is pasted on a person-free background (default 0.15)")
    parser.add_argument("--clutter", type=probability, default=0.0,
                        help="share of scene and composite backgrounds given shapes that are not people "
                             "(ml.scenes.clutter; default 0)")
    parser.add_argument("--prints", type=probability, default=0.0,
                        help="share of samples whose people get shapes painted inside them, labelled person "
                             "(ml.scenes.print_on; default 0)")
    parser.add_argument("--distil-from", choices=DISTIL_SOURCES,
                        help="also learn each training canvas's probability from this model (ml.training.distil)")
    parser.add_argument("--distil-weight", type=non_negative_float, default=0.5,
                        help="--distil-from: weight of the soft-target cross-entropy (default 0.5)")
    parser.add_argument("--init", type=Path, help="start a fresh run from these weights (a .keras file)")
    parser.add_argument("--upsampling", choices=UPSAMPLING,
                        help="mobile-unet's decoder: resize then conv ('bilinear'), conv on the coarse grid then "
                             "resize ('conv-then-bilinear', a quarter of the work) or 'transpose' "
                             "(default: the builder's)")
    parser.add_argument("--pretrained-encoder", action="store_true",
                        help="mobile-unet: start the encoder from DeepLabV3's MobileNetV2 (ml.training.models.pretrained)")
    parser.add_argument("--split-file", type=Path, help="split file to use or create (default OUT/split.json)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")
    parser.add_argument("--pack-to", type=Path,
                        help="write the training and validation data to this folder (ml.training.pack) and stop")
    parser.add_argument("--pack-backgrounds", type=positive_int, default=600,
                        help="--pack-to: at most this many backgrounds, drawn with --seed (default 600)")
    parser.add_argument("--packed", type=Path, help="train from a folder written by --pack-to instead of --data")
    parser.add_argument("--epoch-size", type=positive_int,
                        help="samples per epoch (default: every training photo once)")
    parser.add_argument("--workers", type=positive_int, default=2, help="threads making batches (default 2)")
    parser.add_argument("--processes", action="store_true",
                        help="make batches in forked processes rather than threads (for many cores)")
    parser.add_argument("--max-minutes", type=float,
                        help="decay the rate over this much time and stop before it is spent")
    parser.add_argument("--keep-epochs", type=positive_int, default=0, metavar="N",
                        help="also keep the last N epochs' weights as OUT/epochNNN.keras (for ml.training.average)")
    args = parser.parse_args(argv)
    if not args.packed and not args.data:
        parser.error("give --data (dataset folders) or --packed (a folder written by --pack-to)")
    if args.upsampling and args.model != "mobile-unet":
        parser.error("--upsampling is an option of mobile-unet's decoder only")
    args.size = args.size or MODELS[args.model].input_size
    return args


def _per_model(field: str) -> str:
    """A catalogue fact per model for a help text, e.g. "sinet 224, mobile-unet 192"."""
    return ", ".join(f"{name} {value}" for name, value in table(field).items())


def training_loss(name: str, loss: str | None = None, distil_weight: float | None = None):
    """The run's loss: ``--loss`` or the model's default, wrapped in ``Distilled`` when distilling."""
    base = get_loss(loss or DEFAULT_LOSS[name])
    return base if distil_weight is None else Distilled(base, distil_weight)


def build_for_training(name: str, size: int, lr: float = DEFAULT_LR, loss: str | None = None,
                       pretrained_encoder: bool = False, init: Path | None = None,
                       distil_weight: float | None = None, **options) -> keras.Model:
    """A fresh model compiled as training compiles it (Adam, the model's default loss, IoU metric),
    starting from ``init``'s weights or, when asked (mobile-unet), DeepLabV3's encoder.

    From ``init`` the layers it froze stay frozen (the pretrained encoder's batch norms; see
    ``copy_weights``).
    """
    model = build_model(name, size, **options)
    if init:
        source = load_keras_model(init)
        copy_weights(source, model)
        print(f"weights from {init}", flush=True)
    elif pretrained_encoder:
        from ml.training.models.pretrained import load_pretrained_encoder
        print(f"pretrained encoder: {load_pretrained_encoder(model)} layers", flush=True)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=training_loss(name, loss, distil_weight),
        metrics=[MaskedIoU()],
    )
    return model


def prepare_model(args: argparse.Namespace, state: RunState) -> keras.Model:
    """A compiled model: resumed from ``last.keras`` with its optimizer, or freshly built (from
    ``--init`` weights or the pretrained encoder when asked)."""
    last = args.out / "last.keras"
    distil_weight = args.distil_weight if args.distil_from else None
    if args.resume and last.is_file():
        print(f"resuming from {last} after epoch {state.epoch}", flush=True)
        return distilling(load_keras_model(last, compile=True), distil_weight)
    options = {"upsampling": args.upsampling} if args.upsampling else {}
    return build_for_training(args.model, args.size, args.lr, args.loss, args.pretrained_encoder, args.init,
                              distil_weight, **options)


def distilling(model: keras.Model, weight: float | None) -> keras.Model:
    """A resumed model whose loss distils with ``weight`` when asked: recompiled around its own loss
    and optimizer (the optimizer keeps its moments), so a run can start distilling part-way."""
    if weight is None:
        return model
    if isinstance(model.loss, Distilled):
        model.loss.weight = weight
        return model
    model.compile(optimizer=model.optimizer, loss=Distilled(model.loss, weight), metrics=[MaskedIoU()])
    return model


def training_data(args: argparse.Namespace, train_samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], dict]:
    """Training photos (labelled, with bystanders left out of the loss, plus teacher-labelled
    ones) at the input size, the person-free backgrounds, and the facts of it all for ``run.json``
    (the model card names every source and count). Scene people are cut by the caller: a pack
    does not store them, so it must not pay for cutting 2,000 full-size photos."""
    images, masks = load_letterboxed(train_samples, args.size, with_bystanders_ignored(args.labels))
    taught = teacher_labelled(args.teacher_data, args.labels)
    if taught:
        more_images, more_masks = load_letterboxed(taught, args.size, teacher_masks(args.labels))
        images, masks = np.concatenate([images, more_images]), np.concatenate([masks, more_masks])
    backgrounds = load_backgrounds(args.backgrounds, "train", max_side=2 * args.size)
    if not backgrounds and (args.scenes or args.composite):
        raise DatasetError(f"no person-free backgrounds in {args.backgrounds / 'train'}: "
                           "run python -m ml.backgrounds first, or pass --scenes 0 --composite 0")
    facts = {"labelled": len(train_samples), "teacher_labelled": dict(Counter(s.dataset for s in taught)),
             "teachers": list(ENSEMBLE), "bystanders_by": list(BYSTANDER_TEACHERS), "backgrounds": len(backgrounds)}
    return images, masks, backgrounds, facts


def mixed_in(args: argparse.Namespace, backgrounds: list[np.ndarray], cutouts: list[Cutout],
             facts: dict) -> tuple[Synthesis, dict]:
    """The synthesis a run mixes into its photos, and the run's facts with its counts and shares."""
    synthesis = Synthesis(backgrounds, cutouts, args.scenes, args.mosaics, args.composite, args.clutter, args.prints)
    print(f"training data: {facts['labelled']} labelled + {sum(facts['teacher_labelled'].values())} teacher-labelled "
          f"photos, {len(backgrounds)} backgrounds, {len(cutouts)} cutouts", flush=True)
    return synthesis, {**facts, "cutouts": len(cutouts), "scenes": args.scenes, "mosaics": args.mosaics,
                       "composite": args.composite, "clutter": args.clutter, "prints": args.prints}


def pack(args: argparse.Namespace) -> int:
    """Write what a run on ``--data`` would train and validate on to ``--pack-to``; bytes written."""
    train_samples, val_samples = split_samples(args)
    images, masks, backgrounds, facts = training_data(args, train_samples)
    val_images, val_masks = load_letterboxed(val_samples, args.size)
    packed_from = len(backgrounds)
    if len(backgrounds) > args.pack_backgrounds:
        keep = np.random.default_rng(args.seed).choice(len(backgrounds), args.pack_backgrounds, replace=False)
        backgrounds = [backgrounds[i] for i in sorted(keep)]
    facts = {**facts, "backgrounds": len(backgrounds), "packed_from": packed_from, "val": len(val_samples),
             "pack_command": invocation()}
    return save_pack(args.pack_to, Pack(images, masks, val_images, val_masks, backgrounds,
                                        len(train_samples), facts))


def packed_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Synthesis, dict]:
    """Training and validation arrays, synthesis and facts from a ``--pack-to`` folder. Scene
    people are cut from the letterboxed labelled photos (the pack holds no full-size photo)."""
    data = load_pack(args.packed, args.size)
    cutouts = [cut for cut in map(make_cutout, data.images[:data.labelled], data.masks[:data.labelled])
               if cut is not None] if args.scenes else []
    synthesis, facts = mixed_in(args, data.backgrounds, cutouts, {**data.facts, "packed": str(args.packed)})
    return data.images, data.masks, data.val_images, data.val_masks, synthesis, facts


def invocation() -> str:
    """This run's command line as one would type it again (run.json, packs and model cards keep it)."""
    return "python -m ml.training.train " + shlex.join(sys.argv[1:])


def split_samples(args: argparse.Namespace) -> tuple[list[Sample], list[Sample]]:
    """The labelled training and validation samples of ``--data`` under the run's split."""
    samples = discover_all(args.data)
    split = load_or_make_split(args.split_file or args.out / "split.json", samples, args.seed)
    train_samples, val_samples = select(samples, split, "train"), select(samples, split, "val")
    if not train_samples or not val_samples:
        raise DatasetError("the split leaves no training or no validation images; add more data")
    return train_samples, val_samples


def all_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Synthesis, dict]:
    """Training and validation arrays, synthesis and facts, from a pack or from the dataset folders."""
    if args.packed:
        return packed_data(args)
    train_samples, val_samples = split_samples(args)
    train_x, train_y, backgrounds, facts = training_data(args, train_samples)
    synthesis, facts = mixed_in(args, backgrounds, cutouts_of(train_samples) if args.scenes else [],
                                {**facts, "val": len(val_samples)})
    return train_x, train_y, *load_letterboxed(val_samples, args.size), synthesis, facts


def command_history(run_json: Path, command: str, epochs_done: int) -> list[dict]:
    """Every command that trained this run, with the epoch it started at: a resumed run may change
    its schedule (``--epochs``, ``--decay-epochs``), and the model card must show all of it.

    A run that starts from epoch 0 has no past, whatever an old ``run.json`` in the folder says.
    """
    if epochs_done == 0:
        return [{"from_epoch": 1, "command": command}]
    previous = json.loads(run_json.read_text()) if run_json.is_file() else {}
    history = previous.get("history") or ([{"from_epoch": None, "command": previous["command"]}]
                                          if "command" in previous else [])
    if history and history[-1]["command"] == command:
        return history  # the same command resumed again: nothing new to record
    return history + [{"from_epoch": epochs_done + 1, "command": command}]


def train(args: argparse.Namespace) -> RunState:
    """Run (or continue) training and return the final run state."""
    args.out.mkdir(parents=True, exist_ok=True)
    state = RunState.load(args.out / "state.json") if args.resume else RunState()
    if state.stopped_early or state.epoch >= args.epochs:
        print(f"nothing to do: run finished at epoch {state.epoch} (best val IoU {state.best_iou:.4f})")
        return state
    command = invocation()
    train_x, train_y, val_x, val_y, synthesis, facts = all_data(args)
    if args.distil_from:
        facts = {**facts, "distilled_from": args.distil_from, "distil_weight": args.distil_weight}
    write_atomic(args.out / "run.json", json.dumps({
        "command": command, "args": {k: str(v) for k, v in vars(args).items()},
        "history": command_history(args.out / "run.json", command, state.epoch),
        "train_images": facts["labelled"], "val_images": len(val_x), "data": facts}, indent=1))
    model = prepare_model(args, state)
    print(f"{args.model}: {model.count_params():,} parameters, {len(train_x)} train / {len(val_x)} val images, "
          f"input {args.size}px", flush=True)
    seconds = args.max_minutes * 60 if args.max_minutes else None
    if args.processes:
        cv2.setNumThreads(1)  # forked workers must not inherit OpenCV's thread pool (it can hang them)
    model.fit(
        SegmentationBatches(train_x, train_y, args.batch, augment=True, synthesis=synthesis, seed=args.seed,
                            epoch=state.epoch, epoch_size=args.epoch_size, workers=args.workers,
                            use_multiprocessing=args.processes,
                            soft_targets=SoftTargets(args.distil_from) if args.distil_from else None),
        validation_data=SegmentationBatches(val_x, val_y, args.batch),
        initial_epoch=state.epoch,
        epochs=args.epochs,
        verbose=2,
        callbacks=[
            keras.callbacks.LearningRateScheduler(poly_decay(args.lr, args.decay_epochs or args.epochs,
                                                             seconds=seconds)),
            keras.callbacks.CSVLogger(str(args.out / "log.csv"), append=True),
            Checkpointer(args.out, state, args.patience, args.min_delta,
                         deadline=time.monotonic() + seconds if seconds else None, keep_epochs=args.keep_epochs),
        ],
    )
    print(f"done: {state.epoch} epochs, best val IoU {state.best_iou:.4f} at epoch {state.best_epoch}"
          f"{' (early stop)' if state.stopped_early else ''}", flush=True)
    return state


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.pack_to:
            print(f"packed {pack(args) / 2**20:.1f} MiB into {args.pack_to}")
            return 0
        train(args)
    except (DatasetError, PackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
