import json

from sarflow.cli import main
from sarflow.training.synthetic import SCENARIO_KINDS, SyntheticRecipe


def test_train_command_records_the_scenario_mix_and_offset_range(tmp_path):
    run = tmp_path / "run"
    status = main(["train", "-o", str(run), "--model", "unet", "--model-arg", "base_channels=4", "--model-arg",
                   "depth=2", "--steps", "1", "--batch-size", "1", "--validation-size", "1", "--eval-every", "1",
                   "--patch-size", "32", "--loader-workers", "0", "--precision", "fp32",
                   "--scenario-weights", "shift=3, volcano=1", "--min-offset-px", "0.5", "--max-offset-px", "3"])
    assert status == 0
    recipe = json.loads((run / "config.json").read_text())["recipe"]
    weights = dict(zip(SCENARIO_KINDS, recipe["weights"]))
    assert weights == {"shift": 3.0, "smooth": 0.0, "glacier": 0.0, "fault": 0.0, "volcano": 1.0, "landslide": 0.0}
    assert (recipe["min_offset_px"], recipe["max_offset_px"]) == (0.5, 3.0)
    # without the options, the recipe's own mix and range
    default = SyntheticRecipe()
    other = tmp_path / "default"
    assert main(["train", "-o", str(other), "--model", "unet", "--model-arg", "base_channels=4", "--model-arg",
                 "depth=2", "--steps", "1", "--batch-size", "1", "--validation-size", "1", "--eval-every", "1",
                 "--patch-size", "32", "--loader-workers", "0", "--precision", "fp32"]) == 0
    recipe = json.loads((other / "config.json").read_text())["recipe"]
    assert tuple(recipe["weights"]) == default.weights and recipe["min_offset_px"] == default.min_offset_px
