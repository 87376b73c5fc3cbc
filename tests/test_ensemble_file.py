import json

import h5py
import numpy as np
import pytest
from zoo_files import rehash

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
        assert prov["task"]["name"] == "flipflop" and prov["schema_version"] == 2
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


def _flip_byte(path, key, member):
    """Flip one byte inside one member's chunk of ``key``, as a failing disk or download would."""
    with h5py.File(path, "r") as f:
        info = f[key].id.get_chunk_info(member)
    data = bytearray(path.read_bytes())
    data[info.byte_offset + 5] ^= 0xFF
    path.write_bytes(bytes(data))


def test_every_array_dataset_carries_a_checksum(ens_file):
    with h5py.File(ens_file, "r") as f:
        arrays = []
        f.visititems(lambda _, o: arrays.append(o) if isinstance(o, h5py.Dataset) and o.ndim else None)
        assert len(arrays) == 18 and all(d.fletcher32 for d in arrays)
        assert len(f.attrs["provenance_sha256"]) == 64


def test_bit_flip_in_a_weight_chunk_is_caught(ens_file, capsys):
    from degzoo.cli import main

    _flip_byte(ens_file, "weights/W_hh", 1)
    with Ensemble.open(ens_file) as ens:  # opening reads metadata only
        assert ens.member_params(0)["W_hh"].shape == (16, 16)  # other members still read
        with pytest.raises(ZooFormatError, match=r"weights/W_hh \(member 1\) cannot be read"):
            ens.member_params(1)
        with pytest.raises(ZooFormatError, match=r"weights/W_hh \(member 1\) cannot be read"):
            ens.params  # noqa: B018
    assert main(["info", str(ens_file)]) == 2
    err = capsys.readouterr().err
    assert "weights/W_hh (member 1)" in err and len(err.strip().splitlines()) == 1


def test_tampered_provenance_is_caught(ens_file):
    with h5py.File(ens_file, "a") as f:
        text = f["provenance"][()].decode().replace('"hidden": 16', '"hidden": 17')
        del f["provenance"]
        f["provenance"] = text
    with pytest.raises(ZooFormatError, match="provenance does not match its recorded sha256"):
        Ensemble.open(ens_file)


def test_shapes_must_match_the_architecture(ens_file):
    with h5py.File(ens_file, "a") as f:
        del f["initial/b"]
        f.create_dataset("initial/b", data=np.zeros((4, 15), np.float32))
    with pytest.raises(ZooFormatError, match=r"initial/b has shape \(4, 15\).*imply \(4, 16\)"):
        Ensemble.open(ens_file)


def test_absurd_declared_sizes_are_refused_before_reading(ens_file):
    with h5py.File(ens_file, "a") as f:  # same shape, but no bytes behind it
        del f["weights/W_hh"]
        f.create_dataset("weights/W_hh", shape=(4, 16, 16), dtype=np.float32, chunks=(1, 16, 16))
    with pytest.raises(ZooFormatError, match=r"W_hh declares \(4, 16, 16\) \(4,096 bytes\).*holds only 0"):
        Ensemble.open(ens_file)
    with h5py.File(ens_file, "a") as f:  # ~100 GB declared in a file of a few KB
        for group in ("weights", "initial"):
            for k, shape in (("W_in", (16, 2)), ("W_hh", (16, 16)), ("b", (16,)), ("W_out", (2, 16)),
                             ("b_out", (2,))):
                del f[f"{group}/{k}"]
                f.create_dataset(f"{group}/{k}", shape=(10**8, *shape), dtype=np.float32, chunks=(1, *shape))
        for k in ("seed", "status"):
            arr = f[f"members/{k}"]
            del f[f"members/{k}"]
            f.create_dataset(f"members/{k}", shape=(10**8,), dtype=arr.dtype, chunks=(1000,))
    with pytest.raises(ZooFormatError, match=r"declares \(100000000, 16, 2\).*holds only 0 bytes"):
        Ensemble.open(ens_file)


@pytest.mark.parametrize("version", [1.9, "1", np.array([1, 1]), True])
def test_schema_version_must_be_an_integer(ens_file, version):
    with h5py.File(ens_file, "a") as f:
        f.attrs["schema_version"] = version
    with pytest.raises(ZooFormatError, match="schema_version must be an integer"):
        Ensemble.open(ens_file)


def test_non_finite_weights_of_a_converged_member_are_refused(ens_file):
    with h5py.File(ens_file, "a") as f:
        f["members/status"][2] = b"converged"
        w = f["weights/b"][2]
        w[3] = np.nan
        f["weights/b"][2] = w
    rehash(ens_file)
    with Ensemble.open(ens_file) as ens:
        assert np.isfinite(ens.member_params(1)["b"]).all()
        with pytest.raises(ZooFormatError, match=r"weights/b of member 2 is not finite.*converged"):
            ens.member_params(2)
        with pytest.raises(ZooFormatError, match="member 2 is not finite"):
            ens.verify()
    with h5py.File(ens_file, "a") as f:  # a diverged member may well hold NaN
        f["members/status"][2] = b"diverged"
    rehash(ens_file)
    with Ensemble.open(ens_file) as ens:
        assert ens.verify() is True and np.isnan(ens.params["b"][2, 3])


def test_embedded_shards_without_checksums_stay_valid():
    from degzoo.zoo import open_release

    with open_release().ensemble("flipflop-bits1") as ens:
        assert ens.verify() is False and len(ens) == 16
