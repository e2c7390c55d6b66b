"""Deep module: network shapes and size, masked loss, augmentation, training, protocols, determinism, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from monai.networks.nets import DenseNet121
from sksurv.util import Surv

from helpers.data.manifest import read_manifest
from helpers.data.outcomes import horizon_label_frame
from helpers.errors import CudaUnavailableError
from helpers.models.crossfit import out_of_fold_predictions
from helpers.models.deep.checkpoint import atomic_save, load_densenet
from helpers.models.deep.config import INPUT_KEYS, PROFILE_KEYS, SELECTION, DeepConfig, deep_config, resolve_device
from helpers.models.deep.network import (
    CoxNetwork,
    DualInputDenseNet,
    SeparateHorizonNets,
    architecture_summary,
    build_model,
)
from helpers.models.deep.protocol import (
    _inner_split,
    densenet_chain,
    densenet_crossfit,
    predict_fold_ensemble,
    predict_one_fold_each,
)
from helpers.models.deep.step import masked_cross_entropy, train_step
from helpers.models.deep.training import TrainResult, predict_densenet, train_densenet
from helpers.models.deep.transforms import TumourCubed, augment_batch, case_items, case_transforms
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort
from helpers.vocabulary import PREDICTION_COLUMNS

TINY = DeepConfig(
    input_size=16,
    block_config=(1, 1),
    growth_rate=4,
    init_features=8,
    roi_channels=(4, 8),
    hidden=16,
    dropout=0.0,
    epochs=2,
    batch_size=4,
    device="cpu",
)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """12 in-silico patients (48 x 48 x 8 voxels), indexed by patient_id, with absolute image and mask paths."""
    folder = tmp_path_factory.mktemp("cohort")
    manifest = generate_cohort(
        folder, CohortSpec(n_patients=12, matrix=48, n_slices=8, n_reader2=0), n_jobs=1, progress=False
    )
    return read_manifest(manifest, check_images=False).set_index("patient_id")


@pytest.fixture(scope="module")
def labels(cases: pd.DataFrame) -> pd.DataFrame:
    """Known-status labels of the 12 patients at 12, 24 and 36 months."""
    return horizon_label_frame(cases["time_months"], cases["event"], "known_status")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One preprocessing cache shared by the module's trainings."""
    return tmp_path_factory.mktemp("cache")


def _batch(size: int = 16, n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random (image, roi) batch."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, size, generator=generator), torch.rand(
        n, 1, size, size, size, generator=generator
    )


def test_forward_shapes_for_both_head_layouts() -> None:
    """multitask: one net with 3 heads; separate: 3 single-head nets; both give (B, 3, 2) logits."""
    image, roi = _batch()
    multitask = build_model(TINY)
    separate = build_model(replace(TINY, heads="separate"))
    assert isinstance(multitask, DualInputDenseNet) and multitask.n_heads == 3
    assert isinstance(separate, SeparateHorizonNets) and [n.n_heads for n in separate.nets] == [1, 1, 1]
    for model in (multitask, separate):
        assert model.eval()(image, roi).shape == (4, 3, 2)
    with pytest.raises(ValueError, match="roi input must be"):
        multitask(image, roi[:, :, :8])


def test_trunk_at_paper_size_is_monai_densenet121_features() -> None:
    """Blocks (6, 12, 24, 16), growth 32, init 64: the image trunk has DenseNet121's feature parameters."""
    model = DualInputDenseNet(input_size=96, n_heads=3)
    reference = DenseNet121(spatial_dims=3, in_channels=1, out_channels=2).features
    assert model.trunk_parameter_count() == sum(p.numel() for p in reference.parameters()) == 11_242_624
    summary = architecture_summary(model).set_index("branch")["parameters"]
    assert summary["image: MONAI DenseNet features"] == model.trunk_parameter_count()
    assert summary.drop("total").sum() == summary["total"] == sum(p.numel() for p in model.parameters())


def test_masked_loss_ignores_unknown_labels() -> None:
    """NaN labels add nothing: the loss equals each head's cross-entropy over its known patients, averaged."""
    logits = torch.randn(4, 2, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[1.0, np.nan], [0.0, 1.0], [np.nan, 0.0], [1.0, np.nan]])
    ce = torch.nn.functional.cross_entropy
    expected = (ce(logits[[0, 1, 3], 0], torch.tensor([1, 0, 1])) + ce(logits[[1, 2], 1], torch.tensor([1, 0]))) / 2
    torch.testing.assert_close(masked_cross_entropy(logits, labels), expected)
    assert masked_cross_entropy(logits, torch.full((4, 2), np.nan)).item() == 0.0


def test_weighted_loss_is_each_heads_weighted_mean_and_ones_change_nothing() -> None:
    """IPCW weights: per head, sum(w * ce) / sum(w) over the known labels; weights of one give the plain loss."""
    logits = torch.randn(4, 2, 2, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([[1.0, np.nan], [0.0, 1.0], [np.nan, 0.0], [1.0, np.nan]])
    weights = torch.tensor([[2.0, 0.0], [1.0, 3.0], [0.0, 1.0], [1.0, 0.0]])
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(8, 2), labels.nan_to_num(0).long().reshape(8), reduction="none"
    )
    ce = ce.reshape(4, 2)
    first = (2 * ce[0, 0] + ce[1, 0] + ce[3, 0]) / 4
    second = (3 * ce[1, 1] + ce[2, 1]) / 4
    torch.testing.assert_close(masked_cross_entropy(logits, labels, weights), (first + second) / 2)
    torch.testing.assert_close(
        masked_cross_entropy(logits, labels, torch.ones(4, 2)), masked_cross_entropy(logits, labels)
    )


def test_one_optimisation_step_lowers_the_loss() -> None:
    """An Adam step on a fixed batch lowers that batch's loss."""
    torch.manual_seed(0)
    model = build_model(TINY)
    image, roi = _batch()
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, np.nan], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    before = train_step(model, image, roi, labels, optimizer, scaler, amp=False)
    with torch.no_grad():
        after = masked_cross_entropy(model(image, roi), labels).item()
    assert after < before


def test_preprocessing_is_deterministic_and_in_the_window(cases: pd.DataFrame) -> None:
    """The cached preprocessing gives the same (1, S, S, S) float tensors in [0, 1] on every call."""
    item = case_items(cases.iloc[:1])[0]
    preprocess = case_transforms(TINY)
    first, second = preprocess(dict(item)), preprocess(dict(item))
    for key in INPUT_KEYS:
        assert first[key].shape == (1, 16, 16, 16) and first[key].dtype == torch.float32
        assert torch.equal(first[key], second[key])
        assert 0.0 <= first[key].min() and first[key].max() <= 1.0


def _axial_symmetries(volume: torch.Tensor) -> list[torch.Tensor]:
    """Every result of a rotation by 0-270° in the (y, x) plane followed by any set of axis flips (z, y, x)."""
    found = []
    for k in range(4):
        turned = torch.rot90(volume, k, dims=(2, 3))
        for flips in range(8):
            dims = [1 + axis for axis in range(3) if flips >> axis & 1]
            found.append(turned.flip(dims) if dims else turned)
    return found


def test_batch_augmentation_moves_both_inputs_alike_and_is_seeded() -> None:
    """Without noise each augmented case is one rotation-and-flip of itself, the same one for the image and the
    ROI; the draws follow the generator; with noise the added SD stays within noise_std."""
    image = torch.rand((16, 1, 6, 6, 6), generator=torch.Generator().manual_seed(0))
    out_image, out_roi = augment_batch(image, image.clone(), torch.Generator().manual_seed(1), noise_std=0.0)
    assert torch.equal(out_image, out_roi)
    for case in range(16):
        assert any(torch.equal(out_image[case], option) for option in _axial_symmetries(image[case]))
    moved = sum(not torch.equal(out_image[case], image[case]) for case in range(16))
    assert moved >= 12  # each case stays put with probability 1/16
    again = augment_batch(image, image.clone(), torch.Generator().manual_seed(1), noise_std=0.0)[0]
    assert torch.equal(again, out_image)
    noisy_image, noisy_roi = augment_batch(image, image.clone(), torch.Generator().manual_seed(1), noise_std=0.1)
    added = noisy_image - out_image  # same draws, so the same spatial moves: only the noise differs
    assert added.std(dim=(1, 2, 3, 4)).max() <= 0.1 * 1.3 and (added.abs().sum(dim=(1, 2, 3, 4)) == 0).any()
    assert not torch.equal(noisy_image - out_image, noisy_roi - out_roi)  # each input draws its own noise
    assert torch.equal(image, torch.rand((16, 1, 6, 6, 6), generator=torch.Generator().manual_seed(0)))  # untouched


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    """device="cuda" on a machine without CUDA names the problem and the way out."""
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CudaUnavailableError, match="no CUDA GPU.*use device 'cpu' or 'auto'"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_paper_protocol_smoke_training(
    cases: pd.DataFrame, labels: pd.DataFrame, cache_dir: Path, tmp_path: Path
) -> None:
    """2 epochs on 8 patients selecting on test accuracy: history, checkpoint, probabilities for everyone."""
    train, test = cases.iloc[:8], cases.iloc[8:]
    set_on, metric = SELECTION["paper"]
    result = train_densenet(
        train,
        labels,
        TINY,
        cache_dir=cache_dir,
        eval_sets={set_on: test},
        select_on=set_on,
        select_metric=metric,
        history_path=tmp_path / "history.csv",
        checkpoint_path=tmp_path / "densenet.pt",
        seed=1,
        progress=False,
    )
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [1, 2] and history["train_loss"].gt(0).all()
    assert {f"test_{m}_{h}m" for m in ("accuracy", "auc") for h in TINY.horizons} <= set(history.columns)
    best = (
        int(history["test_accuracy_12m"].add(history["test_accuracy_24m"]).add(history["test_accuracy_36m"]).idxmax())
        + 1
    )
    assert result.best_epochs == {12: best, 24: best, 36: best}
    assert result.device == "cpu" and result.samples_per_s > 0 and result.resumed_from == 0
    predictions = predict_densenet(result.model, cases, TINY, cache_dir)
    assert list(predictions.columns) == PREDICTION_COLUMNS and len(predictions) == 12 * 3
    assert set(predictions["patient_id"]) == set(cases.index)
    assert predictions["probability"].between(0, 1).all()
    model, config = load_densenet(tmp_path / "densenet.pt", device="cpu")
    assert config == TINY
    pd.testing.assert_frame_equal(predict_densenet(model, cases, config, cache_dir), predictions)


def test_rigorous_never_evaluates_held_out_patients_before_training_ends(
    cases: pd.DataFrame, cache_dir: Path, tmp_path: Path
) -> None:
    """Cross-fitted with 2 folds: before each 'train_end' only validation patients of the fold are evaluated."""
    events: list[tuple[str, list[str]]] = []
    chain = densenet_chain(
        TINY,
        "known_status",
        cache_dir,
        work_dir=tmp_path,
        val_fraction=0.25,
        seed=0,
        observer=lambda event, ids: events.append((event, ids)),
    )
    y = Surv.from_arrays(cases["event"].astype(bool), cases["time_months"])
    oof = out_of_fold_predictions(cases, y, chain, n_folds=2, random_state=0)
    assert len(oof) == 12 * 3 and oof["probability"].between(0, 1).all()
    ends = [i for i, (event, _) in enumerate(events) if event == "train_end"]
    assert len(ends) == 2
    for fold, end in enumerate(ends):
        begin = ends[fold - 1] + 2 if fold else 0
        held_out = set(oof.loc[oof["fold"] == fold, "patient_id"])
        during = events[begin:end]
        assert during and all(event == "evaluate:val" for event, _ in during)
        assert not held_out & {pid for _, ids in during for pid in ids}
        assert events[end + 1] == ("predict", sorted(held_out, key=list(cases.index).index))
    assert len(list(tmp_path.glob("fit-*/densenet.pt"))) == 2


def _train_and_predict(
    cases: pd.DataFrame, labels: pd.DataFrame, cache_dir: Path, config: DeepConfig, checkpoint_path: Path | None = None
) -> tuple[TrainResult, pd.DataFrame]:
    """Seeded training on 8 patients (val = the other 4), then predictions for all 12."""
    result = train_densenet(
        cases.iloc[:8],
        labels,
        config,
        cache_dir=cache_dir,
        eval_sets={"val": cases.iloc[8:]},
        select_on="val",
        select_metric="auc",
        checkpoint_path=checkpoint_path,
        seed=5,
        progress=False,
    )
    return result, predict_densenet(result.model, cases, config, cache_dir)


def test_cpu_training_is_deterministic(cases: pd.DataFrame, labels: pd.DataFrame, cache_dir: Path) -> None:
    """Two runs with the same seed give identical predictions (separate heads: one net per horizon)."""
    config = replace(TINY, heads="separate", dropout=0.3)
    first, second = (_train_and_predict(cases, labels, cache_dir, config)[1] for _ in range(2))
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_interrupted_training_resumes_to_the_same_model(
    cases: pd.DataFrame, labels: pd.DataFrame, cache_dir: Path, tmp_path: Path
) -> None:
    """1 epoch, then a call with epochs=2 resuming from the last checkpoint == 2 epochs straight."""
    config = replace(TINY, dropout=0.3)
    (tmp_path / "straight").mkdir()
    _, straight = _train_and_predict(cases, labels, cache_dir, config, tmp_path / "straight" / "densenet.pt")
    _train_and_predict(cases, labels, cache_dir, replace(config, epochs=1), tmp_path / "densenet.pt")
    resumed, predictions = _train_and_predict(cases, labels, cache_dir, config, tmp_path / "densenet.pt")
    assert resumed.resumed_from == 1 and list(resumed.history["epoch"]) == [1, 2]
    pd.testing.assert_frame_equal(predictions, straight, check_exact=True)
    for name in ("densenet.pt", "densenet.last.pt"):  # recorded artifacts: the same bytes, not only the same values
        assert (tmp_path / name).read_bytes() == (tmp_path / "straight" / name).read_bytes(), name
    with pytest.warns(UserWarning, match="another training"):
        fresh, _ = _train_and_predict(
            cases, labels, cache_dir, replace(config, learning_rate=1e-3), tmp_path / "densenet.pt"
        )
    assert fresh.resumed_from == 0


def test_field_of_view_is_a_mm_cube_centred_on_the_tumour() -> None:
    """With field_of_view_mm the whole-image input is a tumour-centred cube of that side, zero-padded outside."""
    image = np.arange(20 * 40 * 40, dtype=np.float32).reshape(1, 20, 40, 40)
    mask = np.zeros((1, 20, 40, 40), np.uint8)
    mask[0, 9:11, 19:21, 19:21] = 1
    item = {"image": image, "mask": mask, "spacing": np.array([5.0, 1.0, 1.0])}
    out = TumourCubed(margin_mm=2.0, field_mm=30.0)(item)
    assert out["image"].shape == (1, 6, 30, 30)
    assert out["image"][0, 3, 15, 15] == image[0, 10, 20, 20]
    assert out["roi"].shape == (1, 3, 14, 14)  # longest extent 10 mm + 2 x 2 mm margin
    wide = TumourCubed(margin_mm=2.0, field_mm=60.0)(item)["image"]
    assert wide.shape == (1, 12, 60, 60) and wide[0, 0, 0, 0] == 0.0  # beyond the scan: padding


def test_the_cross_fitted_densenet_saves_its_fold_networks_and_their_mean_predicts_new_patients(
    cases: pd.DataFrame, cache_dir: Path, tmp_path: Path
) -> None:
    """3 fold networks over 9 training patients: out-of-fold rows for them, the fold mean for the 3 others, and
    the saved networks reproduce that mean."""
    split = pd.Series(["train"] * 9 + ["test"] * 3, index=cases.index)
    crossfit = densenet_crossfit(cases.assign(split=split), TINY, cache_dir, n_folds=3, val_fraction=0.34, seed=0)
    predictions = crossfit.predictions
    assert len(crossfit.folds) == 3 and crossfit.minutes > 0
    train_rows = predictions[predictions["split"] == "train"]
    assert sorted(train_rows["fold"].unique()) == [0, 1, 2] and train_rows["patient_id"].nunique() == 9
    test_rows = predictions[predictions["split"] == "test"]
    assert (test_rows["fold"] == -1).all() and test_rows["patient_id"].nunique() == 3
    path = tmp_path / "densenet_folds.pt"
    atomic_save(crossfit.checkpoint(), path)
    again = predict_fold_ensemble(path, cases[split == "test"], cache_dir)
    merged = test_rows.merge(again, on=["patient_id", "horizon_months"], suffixes=("", "_again"))
    assert len(merged) == 9 and np.allclose(merged["probability"], merged["probability_again"], atol=1e-6)
    single = predict_one_fold_each(path, cases[split == "test"], cache_dir, seed=3)
    assert len(single) == 9 and set(single["fold"]) <= {0, 1, 2}
    pd.testing.assert_frame_equal(single, predict_one_fold_each(path, cases[split == "test"], cache_dir, seed=3))
    for fold, rows in single.groupby("fold"):
        network = build_model(TINY)
        network.load_state_dict(crossfit.folds[fold]["state_dict"])
        own = predict_densenet(network.eval(), cases.loc[rows["patient_id"].unique()], TINY, cache_dir)
        merged = rows.merge(own, on=["patient_id", "horizon_months"], suffixes=("", "_own"))
        assert np.allclose(merged["probability"], merged["probability_own"], atol=1e-6)


def test_a_cox_network_trains_on_follow_up_and_predicts_monotone_horizon_probabilities(
    cases: pd.DataFrame, labels: pd.DataFrame, cache_dir: Path, tmp_path: Path
) -> None:
    """dl_loss "cox": one risk score learned from the follow-up; its Breslow baseline (refitted each epoch on the
    training cases) is saved with the weights, so a reloaded checkpoint predicts the same probabilities, which
    rise with the horizon; separate heads are refused."""
    config = replace(TINY, loss="cox")
    train, test = cases.iloc[:8], cases.iloc[8:]
    result = train_densenet(
        train,
        labels,
        config,
        cache_dir=cache_dir,
        eval_sets={"val": test},
        select_on="val",
        select_metric="auc",
        checkpoint_path=tmp_path / "cox.pt",
        seed=0,
        progress=False,
    )
    assert isinstance(result.model, CoxNetwork) and (result.model.baseline_hazard > 0).all()
    assert torch.all(result.model.baseline_hazard[1:] >= result.model.baseline_hazard[:-1])
    predictions = predict_densenet(result.model, cases, config, cache_dir)
    wide = predictions.pivot(index="patient_id", columns="horizon_months", values="probability")
    assert wide.to_numpy().min() > 0 and wide.to_numpy().max() < 1
    assert (wide[24] >= wide[12]).all() and (wide[36] >= wide[24]).all()
    model, loaded = load_densenet(tmp_path / "cox.pt", device="cpu")
    pd.testing.assert_frame_equal(predict_densenet(model, cases, loaded, cache_dir), predictions)
    with pytest.raises(ValueError, match="dl_heads 'multitask'"):
        build_model(replace(TINY, loss="cox", heads="separate"))


def test_a_profiles_dl_keys_make_the_config_notebook_06_trains() -> None:
    """deep_config reads every dl_* key a profile may set (0 mm and "" mean none); params/default.yaml's network."""
    default = deep_config(
        yaml.safe_load((Path(__file__).parents[1] / "params" / "default.yaml").read_text(encoding="utf-8"))
    )
    assert (default.input_size, default.block_config, default.field_of_view_mm) == (32, (2, 2, 2), 80)
    assert default.learning_rate == 1e-3 and default.epochs == 15 and default.pretrained is None
    assert deep_config({"dl_field_of_view_mm": 0.0, "dl_pretrained": ""}) == DeepConfig()
    notebook = (Path(__file__).parents[1] / "notebooks" / "06_densenet.ipynb").read_text(encoding="utf-8")
    assert all(f'"{key} = ' in notebook for key in PROFILE_KEYS)  # every key is one of notebook 06's parameters


@pytest.mark.parametrize("n_patients", [4, 5, 6, 10])
def test_the_inner_validation_split_works_on_the_smallest_folds(n_patients):
    """A cross-fitted fold of a tiny cohort still gets a validation patient (stratified once it can be)."""
    ids = pd.Index([f"p{i}" for i in range(n_patients)])
    event = np.array([1, 0] * (n_patients // 2))
    fit, val = _inner_split(ids, event, 0.2, seed=0)
    assert len(val) == int(np.ceil(0.2 * n_patients)) and fit.union(val).sort_values().equals(ids.sort_values())
    if n_patients >= 10:  # two validation patients: one of each outcome
        assert sorted(event[ids.get_indexer(val)]) == [0, 1]
