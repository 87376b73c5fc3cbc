import json

import h5py
import numpy as np
import pytest

from degzoo.errors import InvalidParameterError, ZooFormatError
from degzoo.zoo import Ensemble, write_ensemble


@pytest.fixture
def ens_file(tmp_path, tiny_result, tiny_task):
    return write_ensemble(tmp_path / "ens.h5", tiny_result, tiny_task.probe(n=8), condition={"id": "ff2"})


def test_write_read_identical(ens_file, tiny_result, tiny_task):
    with Ensemble.open(ens_file) as ens:
        assert len(ens) == 4 and ens.name == "ff2"
        assert ens.task == tiny_task and ens.architecture == tiny_result.architecture
        for k, v in tiny_result.params.items():
            np.testing.assert_array_equal(ens.params[k], v)
            np.testing.assert_array_equal(ens.initial_params[k], tiny_result.initial_params[k])
        np.testing.assert_array_equal(ens.seeds, tiny_result.seeds)
        np.testing.assert_array_equal(ens.members["loss_curve"], tiny_result.loss_curve)
        assert list(ens.status) == list(tiny_result.status)
        np.testing.assert_array_equal(ens.probe_inputs, tiny_task.probe(n=8)[0])


def test_one_member_per_chunk_and_lazy(ens_file, tiny_result):
    with h5py.File(ens_file) as f:
        assert f["weights/W_hh"].chunks == (1, 16, 16)
        prov = json.loads(f["provenance"][()])
        assert prov["task"]["name"] == "flipflop" and prov["schema_version"] == 1
    with Ensemble.open(ens_file) as ens:
        net = ens[2]
        np.testing.assert_array_equal(net.params["W_hh"], tiny_result.params["W_hh"][2])
        assert ens._params is None  # reading one member did not load the ensemble
        assert net.seed == 13


def test_trajectories_regenerated_exactly(ens_file, tiny_ensemble):
    with Ensemble.open(ens_file) as ens:
        traj = ens.trajectories()
        assert traj.shape == (4, 8, 30, 16)
        np.testing.assert_array_equal(traj, tiny_ensemble.trajectories())
        np.testing.assert_array_equal(ens[1].trajectories(), traj[1])
        model = ens[1].to_torch()
        import torch

        _, h = model(torch.as_tensor(ens.probe_inputs))
        np.testing.assert_allclose(h.detach().numpy(), traj[1], atol=1e-5)


def test_subset_concat_with_params(tiny_ensemble):
    sub = tiny_ensemble.subset([3, 1])
    np.testing.assert_array_equal(sub.params["W_hh"][0], tiny_ensemble.params["W_hh"][3])
    assert list(sub.seeds) == [14, 12]
    both = Ensemble.concat([sub, tiny_ensemble])
    assert len(both) == 6
    twin = tiny_ensemble.with_params({k: v * 1.0 for k, v in tiny_ensemble.params.items()})
    np.testing.assert_array_equal(twin.trajectories(), tiny_ensemble.trajectories())
    with pytest.raises(InvalidParameterError, match="shape"):
        Ensemble.from_arrays({**tiny_ensemble.params, "W_hh": np.zeros((4, 3, 3))},
                             tiny_ensemble.architecture, tiny_ensemble.task,
                             tiny_ensemble.probe_inputs, tiny_ensemble.probe_targets)


def test_unknown_schema_version(ens_file):
    with h5py.File(ens_file, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(ZooFormatError, match="schema_version 99 is not supported"):
        Ensemble.open(ens_file)


def test_truncated_file(ens_file, tmp_path):
    data = ens_file.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ZooFormatError, match=r"truncated\.h5.*(truncated or corrupt)"):
        Ensemble.open(bad).params  # noqa: B018


def test_missing_dataset(ens_file):
    with h5py.File(ens_file, "a") as f:
        del f["members/loss_curve"]
    with pytest.raises(ZooFormatError, match=r"missing dataset.*members/loss_curve"):
        Ensemble.open(ens_file)


def test_not_an_ensemble_file(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(ZooFormatError, match="not a degzoo ensemble file"):
        Ensemble.open(other)
    with pytest.raises(ZooFormatError, match="no such ensemble file"):
        Ensemble.open(tmp_path / "absent.h5")


def test_write_is_atomic(tmp_path, tiny_result, tiny_task, monkeypatch):
    target = tmp_path / "ens.h5"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("degzoo.zoo.format.os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_ensemble(target, tiny_result, tiny_task.probe(n=4))
    assert list(tmp_path.iterdir()) == []
