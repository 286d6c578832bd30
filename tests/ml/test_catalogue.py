"""ml.catalogue: one ModelSpec per model, and every table of model facts derived from it."""
import json
from pathlib import Path

import pytest

from bench import readme
from ml import catalogue, registry
from ml.catalogue import MODELS, SPECS
from ml.training import cards, train
from ml.training.models import BUILDERS
from ml.training.models.mobile_unet import build_mobile_unet
from ml.training.models.sinet import build_sinet
from webapp import config
from webapp import model_pool as webapp_models

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_of_model_facts_reads_the_catalogue():
    assert registry.MODEL_FILES == {spec.name: spec.stem for spec in SPECS} == readme.MODEL_STEMS
    assert train.DEFAULT_LOSS == {"sinet": "boundary", "mobile-unet": "bce-dice"}
    assert cards.ARCHITECTURES == {spec.name: spec.architecture for spec in SPECS}
    assert webapp_models.LABELS == {"sinet": "SINet", "mobile-unet": "Mobile-UNet"}
    assert BUILDERS == {"sinet": build_sinet, "mobile-unet": build_mobile_unet}


def test_the_default_model_is_written_once():
    assert catalogue.DEFAULT_MODEL in MODELS and not hasattr(registry, "DEFAULT_MODEL")
    assert config.settings_from_env({})["DEFAULT_MODEL"] == catalogue.DEFAULT_MODEL


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_a_spec_agrees_with_its_committed_model_card(spec):
    card_path = ROOT / "weights" / f"{spec.stem}.json"
    if not card_path.is_file():
        pytest.skip(f"no {card_path.name} committed")
    card = json.loads(card_path.read_text())
    assert (card["name"], card["architecture"], card["input_size"]) == (spec.name, spec.architecture, spec.input_size)


def test_training_defaults_to_the_models_input_size_and_loss():
    args = train.parse_args(["--model", "mobile-unet", "--data", "d", "--out", "o"])
    assert (args.size, args.loss) == (MODELS["mobile-unet"].input_size, None)
    assert train.parse_args(["--model", "sinet", "--data", "d", "--out", "o", "--size", "96"]).size == 96


def test_adding_a_spec_adds_the_model_everywhere_without_importing_keras(run_python):
    """A new spec is all the serving side needs: registry, UI labels and the README table pick it up."""
    code = (
        "import sys, dataclasses, ml.catalogue as c\n"
        "c.SPECS += (dataclasses.replace(c.SPECS[0], name='tiny', label='Tiny', stem='tiny_net'),)\n"
        "c.MODELS['tiny'] = c.SPECS[-1]\n"
        "import ml.registry, webapp.model_pool, bench.readme\n"
        "print(ml.registry.MODEL_FILES['tiny'], webapp.model_pool.LABELS['tiny'], bench.readme.MODEL_STEMS['tiny'])\n"
        "print('KERAS', 'keras' in sys.modules)\n"
    )
    assert run_python(code).split() == ["tiny_net", "Tiny", "tiny_net", "KERAS", "False"]
