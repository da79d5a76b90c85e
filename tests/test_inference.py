"""Torch-free policy inference against torch: the checkpoint reader, the normaliser, the actions."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters.errors import KintwinError
from policies.inference import (
    MeanActor,
    ObservationNorm,
    actor_from_checkpoint,
    read_checkpoint,
)

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policies/pretrained/gait10dof18musc_walk_torque"
RNG = np.random.default_rng(20261202)


def _same(ours, theirs, where: str = "") -> None:
    """``ours`` (numpy arrays) holds exactly what ``theirs`` (torch tensors) holds."""
    if isinstance(theirs, torch.Tensor):
        expected = theirs.detach().numpy()
        assert isinstance(ours, np.ndarray), where
        assert ours.dtype == expected.dtype and ours.shape == expected.shape, where
        assert np.array_equal(ours, expected), where
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for key in theirs:
            _same(ours[key], theirs[key], f"{where}/{key}")
    else:
        assert ours == theirs and type(ours) is not object, where


def test_shipped_checkpoint_reads_as_torch_reads_it():
    ours = read_checkpoint(SHIPPED)
    theirs = torch.load(SHIPPED / "policy.pt", map_location="cpu", weights_only=False)
    _same(ours, theirs)


def test_strided_and_typed_tensors_read_back(tmp_path: Path):
    weight = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    payload = {
        "agent": {
            "transposed": weight.t(),  # a view with strides (1, 4) of a shared storage
            "same_storage": weight[1],  # offset 4 into it
            "double": torch.linspace(-1, 1, 5, dtype=torch.float64),
            "long": torch.tensor([3, -7], dtype=torch.int64),
            "flag": torch.tensor([True, False]),
            "scalar": torch.tensor(2.5),
        },
        "names": ["a", "b"],
        "nested": {"count": 3, "none": None, "pair": (1, 2.0)},
    }
    torch.save(payload, tmp_path / "policy.pt")
    _same(read_checkpoint(tmp_path), payload)


def test_a_pickle_the_reader_does_not_know_goes_to_torch(tmp_path: Path, monkeypatch):
    import policies.inference as inference

    payload = {"agent": {"w": torch.ones(2)}, "shape": torch.Size([2, 3])}  # torch.Size: a global
    torch.save(payload, tmp_path / "policy.pt")
    calls = []
    monkeypatch.setattr(
        inference, "_read_torch", lambda path: calls.append(path) or {"agent": {}, "via": "torch"}
    )
    assert read_checkpoint(tmp_path)["via"] == "torch" and calls == [tmp_path / "policy.pt"]


@pytest.mark.parametrize("damage", ["text", "truncated", "no_pickle"])
def test_unreadable_checkpoints_are_one_user_error(tmp_path: Path, damage: str):
    target = tmp_path / "policy.pt"
    if damage == "text":
        target.write_text("not a checkpoint\n")
    elif damage == "truncated":
        target.write_bytes((SHIPPED / "policy.pt").read_bytes()[:5000])
    else:
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("archive/version", "3\n")
    with pytest.raises(KintwinError, match="not a readable policy checkpoint"):
        read_checkpoint(tmp_path)
    with pytest.raises(KintwinError, match="no policy checkpoint there"):
        read_checkpoint(tmp_path / "elsewhere")


def test_a_policy_for_another_model_is_refused():
    with pytest.raises(KintwinError, match="trained for model .*subject01.osim.*'arm26.osim'"):
        read_checkpoint(SHIPPED, "0" * 64, "arm26.osim")


def test_normaliser_is_running_norms_arithmetic():
    from policies.agent import RunningNorm

    running = RunningNorm(6)
    running.update(RNG.normal(size=(50, 6)) * [1, 10, 0.1, 1e-6, 3, 1] + 4)
    frozen = ObservationNorm(running.mean, running.var)
    x = RNG.normal(size=(200, 6)) * 40  # some beyond the ±10 clip
    assert np.array_equal(frozen(x), running(x)) and frozen(x).dtype == np.float32


def test_shipped_actions_match_torch_to_float32_precision():
    """The numpy actor and torch's float32 forward pass agree to ~1e-7 relative on the shipped
    policy (observations from a unit-normal cloud around the normaliser's mean)."""
    from policies.checkpoint import agent_from_checkpoint, load_checkpoint

    agent, norm = agent_from_checkpoint(load_checkpoint(SHIPPED))
    actor, frozen = actor_from_checkpoint(read_checkpoint(SHIPPED))
    obs = norm.mean + RNG.normal(size=(2000, len(norm.mean))) * np.sqrt(norm.var) * 2
    x = frozen(obs)
    with torch.no_grad():
        expected = agent.actor_mean(torch.from_numpy(x)).numpy().astype(float)
    ours = actor(x)
    assert ours.shape == expected.shape == (2000, 7)
    # float32 has a 6e-8 unit round-off; three layers of 128-term sums stay within ~1e-6
    assert np.max(np.abs(ours - expected)) <= 1e-6 * max(1.0, np.abs(expected).max())
    assert np.mean(np.abs(ours - expected)) < 1e-7


def test_mean_actor_checks_its_layers():
    with pytest.raises(ValueError, match="mismatch"):
        MeanActor([np.zeros((4, 3)), np.zeros((2, 5))], [np.zeros(4), np.zeros(2)])
    actor = MeanActor([np.eye(2) * 2, np.ones((1, 2))], [np.zeros(2), np.array([0.5])])
    np.testing.assert_allclose(
        actor(np.array([[0.1, -0.2]])), [[0.5 + np.tanh(0.2) - np.tanh(0.4)]]
    )
