"""Where the repository and its neighbours are: one place, so moving a module never moves a path."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent          # the repository
WEIGHTS = ROOT / "weights"                             # the shipped models and their cards
PRETRAINED = ROOT.parent / "shared" / "pretrained"     # other people's starting weights, beside the repository
DATASETS = ROOT.parent / "shared" / "datasets"         # the labelled photos (picsart/, ccp/), never copied in
