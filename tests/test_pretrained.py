"""Pretrained whole-image weights from a local file: the project's own checkpoints, MONAI DenseNet state dicts,
and one clear error for a checkpoint that does not fit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from monai.networks.nets import DenseNet

from helpers.data.manifest import read_manifest
from helpers.data.outcomes import horizon_label_frame
from helpers.models.deep.checkpoint import atomic_save
from helpers.models.deep.config import DeepConfig
from helpers.models.deep.network import build_model
from helpers.models.deep.pretrained import PretrainedWeightsError, load_pretrained
from helpers.models.deep.training import train_densenet
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort

SMALL = DeepConfig(input_size=16, block_config=(1, 1), growth_rate=4, init_features=8, roi_channels=(4, 8), hidden=16)


def _trunk(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.image_branch.features.state_dict().items()}


def test_a_checkpoint_the_project_wrote_fills_the_trunk_and_nothing_else(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = build_model(SMALL)
    path = tmp_path / "densenet.pt"
    atomic_save({"config": SMALL.to_dict(), "state_dict": source.state_dict()}, path)  # as train_densenet saves
    torch.manual_seed(1)
    target = build_model(SMALL)
    roi_before = {k: v.clone() for k, v in target.roi_branch.state_dict().items()}
    loaded = load_pretrained(target, path)
    assert loaded and all(key.startswith("features.") for key in loaded)
    for key, tensor in _trunk(source).items():
        assert torch.equal(target.image_branch.features.state_dict()[key], tensor), key
    assert all(torch.equal(v, roi_before[k]) for k, v in target.roi_branch.state_dict().items())


def test_a_monai_densenet_state_dict_with_dataparallel_prefixes_loads_into_every_horizon_network(tmp_path: Path):
    monai = DenseNet(spatial_dims=3, in_channels=1, out_channels=5, init_features=8, growth_rate=4, block_config=(1, 1))
    state = {f"module.{k}": v for k, v in monai.state_dict().items()}  # class_layers.* included: ignored
    path = tmp_path / "pretrained.pth"
    torch.save({"state_dict": state}, path)
    target = build_model(replace(SMALL, heads="separate"))
    load_pretrained(target, path)
    for net in target.nets:
        for key, tensor in monai.features.state_dict().items():
            assert torch.equal(net.image_branch.features.state_dict()[key], tensor), key


def test_a_checkpoint_of_another_network_is_refused_naming_the_file_and_every_mismatch(tmp_path: Path) -> None:
    other = DenseNet(spatial_dims=3, in_channels=1, out_channels=2, init_features=8, growth_rate=6, block_config=(1, 2))
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(PretrainedWeightsError) as caught:
        load_pretrained(build_model(SMALL), path)
    message = str(caught.value)
    assert str(path) in message and "dl_growth_rate" in message
    assert "unexpected" in message and "denseblock2.denselayer2" in message  # a layer only the file has
    assert "shape differs" in message and "file (" in message and "network (" in message
    with pytest.raises(PretrainedWeightsError, match="no such file"):
        load_pretrained(build_model(SMALL), tmp_path / "absent.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="not a PyTorch checkpoint"):
        load_pretrained(build_model(SMALL), tmp_path / "text.pt")


def test_training_starts_from_the_pretrained_trunk(tmp_path: Path) -> None:
    """With dl_pretrained set and a learning rate of 0, the trained network's trunk weights are the file's."""
    spec = CohortSpec(n_patients=12, matrix=48, n_slices=8, n_reader2=0)  # as tests/test_deep.py
    manifest = generate_cohort(tmp_path / "cohort", spec, n_jobs=1, progress=False)
    cases = read_manifest(manifest, check_images=False).set_index("patient_id")
    labels = horizon_label_frame(cases["time_months"], cases["event"], "known_status")
    torch.manual_seed(5)
    source = build_model(SMALL)
    path = tmp_path / "trunk.pt"
    torch.save(source.image_branch.state_dict(), path)  # a bare MONAI DenseNet state dict
    config = replace(SMALL, epochs=1, batch_size=4, learning_rate=0.0, device="cpu", pretrained=str(path))
    result = train_densenet(
        cases.iloc[:8],
        labels,
        config,
        cache_dir=tmp_path / "cache",
        eval_sets={"val": cases.iloc[8:]},
        select_on="val",
        select_metric="auc",
        progress=False,
    )
    for name, parameter in source.image_branch.features.named_parameters():
        assert torch.equal(dict(result.model.image_branch.features.named_parameters())[name], parameter), name


def test_a_cox_networks_checkpoint_serves_as_pretrained_weights(tmp_path: Path) -> None:
    torch.manual_seed(2)
    cox = build_model(replace(SMALL, loss="cox"))
    path = tmp_path / "cox.pt"
    atomic_save({"state_dict": cox.state_dict()}, path)
    target = build_model(SMALL)
    load_pretrained(target, path)
    for key, tensor in cox.net.image_branch.features.state_dict().items():
        assert torch.equal(target.image_branch.features.state_dict()[key], tensor), key
