"""One shared layer (lesionviewer.common) for model files, configs and exit codes, used by detection, training and risk."""
from __future__ import annotations

import tomllib

import pytest

from lesionviewer.common.config_tree import ConfigError
from lesionviewer.common.exit_codes import EXIT_DATA, EXIT_RUN, EXIT_USAGE
from lesionviewer.common.model_container import ModelContainerError
from lesionviewer.detection.model_file import ModelFileError, read_header
from lesionviewer.risk.config import RiskConfig
from lesionviewer.training.config import TrainingConfig
from import_graph import ROOT


@pytest.mark.parametrize("config", [TrainingConfig, RiskConfig])
@pytest.mark.parametrize("key, value", [("reference_batch", 0), ("momentum", 2.0), ("lr", float("nan"))])
def test_the_detector_and_the_risk_model_check_their_shared_sections_alike(config, key, value):
    with pytest.raises(ConfigError, match=f"optim.{key} must be"):
        config.from_dict({"optim": {key: value}})


def test_a_risk_config_with_reference_batch_zero_is_a_config_error_not_a_division_by_zero(capsys):
    from lesionviewer.risk.cli import main

    assert main(["train", "--config", str(ROOT / "resources" / "configs" / "risk_mp3d_phantom.toml"),
                 "--set", "optim.reference_batch=0"]) == EXIT_USAGE
    assert "optim.reference_batch must be >= 1" in capsys.readouterr().err


def test_model_file_errors_keep_their_detection_name_and_share_the_container_base(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\x80\x04junk")  # a pickle
    with pytest.raises(ModelFileError, match="pickle") as caught:
        read_header(path)
    assert isinstance(caught.value, ModelContainerError)


def test_lesionviewer_risk_has_its_own_entry_point_and_lesionviewer_train_risk_still_works(capsys):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["lesionviewer-risk"] == "lesionviewer.risk.cli:main"
    assert scripts["lesionviewer-train"] == "lesionviewer.commands.train_cli:main"
    from lesionviewer.commands.train_cli import main as train_main
    from lesionviewer.risk.cli import main as risk_main
    from lesionviewer.training.cli import main as old_train_main

    assert risk_main(["train", "--resume", "/nonexistent/run"]) == EXIT_RUN
    assert train_main(["risk", "train", "--resume", "/nonexistent/run"]) == EXIT_RUN
    assert old_train_main is train_main
    assert train_main(["evaluate-real", "--model", "/nonexistent.safetensors", "--lesion-free", "x"]) == EXIT_DATA
    capsys.readouterr()
