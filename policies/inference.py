"""Running a trained policy without torch: its checkpoint read into numpy, its mean action in numpy.

``kintwin id`` needs only the policy's deterministic action, a few small matrix products per
control step; importing torch for them takes longer than the whole simulation. So
:func:`read_checkpoint` reads ``policy.pt`` (PyTorch's zip format: a pickle whose tensors point
at raw little-endian storages) with an unpickler that accepts only tensors, ordered dicts and
plain Python values, and returns the checkpoint with numpy arrays in place of tensors; a file it
cannot read that way is handed to ``torch.load``. :func:`actor_from_checkpoint` gives the mean
action network (:class:`MeanActor`, tanh MLP evaluated in float64 from the float32 weights) and the
frozen observation normaliser (:class:`ObservationNorm`, the same arithmetic as
``RunningNorm.__call__``). The actions agree with torch's float32 forward pass to about 1e-7.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from converters.errors import KintwinError

__all__ = [
    "POLICY_FILE",
    "MeanActor",
    "ObservationNorm",
    "actor_from_checkpoint",
    "check_trained_for",
    "checkpoint_path",
    "policy_name",
    "read_checkpoint",
]

POLICY_FILE = "policy.pt"

#: PyTorch's legacy storage classes (how its pickles name a tensor's dtype) as numpy dtypes.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Unsupported(Exception):
    """The pickle needs something the numpy reader does not provide (torch.load can)."""


class _Storage:
    """A storage class named by the pickle: records the dtype its data file holds."""

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor(storage, offset, size, stride, *_ignored) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2`` for numpy: a strided view of the storage, copied."""
    size, stride = tuple(size), tuple(stride)
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    if any(s < 0 for s in stride) or offset + _extent(size, stride) > storage.size:
        raise _Unsupported("a tensor outside its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * item for s in stride]
    )
    return np.array(view)


def _extent(size: tuple[int, ...], stride: tuple[int, ...]) -> int:
    """Elements spanned by a strided view (0 for an empty one)."""
    if any(n == 0 for n in size):
        return 0
    return 1 + sum((n - 1) * s for n, s in zip(size, stride, strict=True))


def _rebuild_parameter(data, *_ignored):
    return data


class _TorchVersion(str):
    """``torch.torch_version.TorchVersion`` (a str subclass) read as a plain string."""


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles a checkpoint's ``data.pkl``: tensors become numpy arrays, nothing else runs."""

    _GLOBALS = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch.torch_version", "TorchVersion"): _TorchVersion,
    }

    def __init__(self, handle, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(handle)
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _Storage(_STORAGE_DTYPES[name])
        try:
            return self._GLOBALS[(module, name)]
        except KeyError:
            raise _Unsupported(f"{module}.{name}") from None

    def persistent_load(self, saved_id):
        kind, storage, key, _location, numel = saved_id
        if kind != "storage" or not isinstance(storage, _Storage):
            raise _Unsupported(f"persistent id {kind!r}")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            self.storages[key] = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
        data = self.storages[key]
        if data.size < numel:
            raise _Unsupported(f"storage {key} is shorter than its {numel} elements")
        return data


def _read_numpy(path: Path) -> dict:
    """The checkpoint at ``path`` with numpy arrays for tensors (``_Unsupported`` if the file
    needs torch; ``zipfile.BadZipFile``/``KeyError``/``pickle`` errors if it is not one)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if re.fullmatch(r"([^/]*/)?data\.pkl", n)]
        if len(names) != 1:
            raise _Unsupported("no single data.pkl")
        prefix = names[0][: -len("data.pkl")]
        if prefix + "byteorder" in archive.namelist():
            if archive.read(prefix + "byteorder").strip() != b"little":
                raise _Unsupported("big-endian storages")
        with archive.open(names[0]) as handle:
            return _NumpyUnpickler(handle, archive, prefix).load()


def _read_torch(path: Path) -> dict:
    """``torch.load`` of ``path``, tensors turned into numpy arrays."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)

    def numpy(value):
        if isinstance(value, torch.Tensor):
            return value.detach().numpy().copy()
        if isinstance(value, dict):
            return type(value)((k, numpy(v)) for k, v in value.items())
        return value

    return numpy(ckpt)


def checkpoint_path(path: str | Path) -> Path:
    """The checkpoint file ``path`` names: itself, or a policy directory's ``policy.pt``;
    KintwinError when there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    if not path.exists():
        raise KintwinError(f"{path}: no policy checkpoint there")
    return path


def policy_name(policy: str | Path) -> str:
    """A policy's name: its directory's (also for a checkpoint file inside one) or its file's."""
    policy = Path(policy).resolve()
    return policy.parent.name if policy.is_file() and policy.suffix == ".pt" else policy.name


def read_checkpoint(
    path: str | Path,
    model_sha256: str | None = None,
    model_name: str = "",
    family: dict | None = None,
) -> dict:
    """Read a checkpoint (a file, or a policy directory's ``policy.pt``) without torch when
    possible; tensors come back as numpy arrays. A policy for another model (family) is refused
    (:func:`check_trained_for`)."""
    path = checkpoint_path(path)
    try:
        ckpt = _read_numpy(path)
    except _Unsupported:
        ckpt = None
    except Exception as error:  # noqa: BLE001 - any unreadable file is one user error
        raise KintwinError(f"{path}: not a readable policy checkpoint ({error})") from None
    if ckpt is None:
        try:
            ckpt = _read_torch(path)
        except Exception as error:  # noqa: BLE001
            raise KintwinError(f"{path}: not a readable policy checkpoint ({error})") from None
    if not isinstance(ckpt, dict):
        raise KintwinError(f"{path}: not a policy checkpoint (holds a {type(ckpt).__name__})")
    check_trained_for(ckpt, path, model_sha256, model_name, family)
    return ckpt


def check_trained_for(
    ckpt: dict,
    path: str | Path,
    model_sha256: str | None,
    model_name: str = "",
    family: dict | None = None,
) -> None:
    """Raise KintwinError, naming what differs, unless ``ckpt`` may drive the model.

    A checkpoint that records its model family (``model_family``) accepts any model of the
    family (``family``, from :func:`converters.model_family.model_family`); older checkpoints
    accept only the ``.osim`` they were trained on (``model_sha256``). No check when the model's
    ``family`` and ``model_sha256`` are None.
    """
    if family is not None and "model_family" in ckpt:
        from converters.model_family import family_differences

        differences = family_differences(ckpt["model_family"], family)
        if differences:
            raise KintwinError(
                f"{path}: policy was trained for the family of model '{ckpt.get('model_name')}'; "
                f"'{model_name}' is not of it: {'; '.join(differences[:3])}"
            )
    elif model_sha256 is not None and ckpt.get("model_sha256") != model_sha256:
        raise KintwinError(
            f"{path}: policy was trained for model '{ckpt.get('model_name')}' "
            f"(sha256 {str(ckpt.get('model_sha256'))[:12]}…), not for '{model_name}' "
            f"(sha256 {model_sha256[:12]}…); train a policy for this model"
        )


class ObservationNorm:
    """A frozen observation normaliser: ``(obs - mean) / sqrt(var + 1e-8)`` clipped to ±10, as
    float32 (the arithmetic of ``RunningNorm.__call__``)."""

    def __init__(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.mean = np.asarray(mean, dtype=float)
        self.var = np.asarray(var, dtype=float)
        if self.mean.shape != self.var.shape or self.mean.ndim != 1:
            raise ValueError(f"mean {self.mean.shape} and var {self.var.shape} must be (n,)")
        self.scale = np.sqrt(self.var + 1e-8)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.mean) / self.scale, -10, 10).astype(np.float32)


class MeanActor:
    """The policy's mean action: a tanh MLP (tanh after every layer but the last).

    ``weights[i]`` is (n_out, n_in) as torch's ``nn.Linear`` stores it, ``biases[i]`` (n_out,).
    Evaluated in float64.
    """

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        if not weights or len(weights) != len(biases):
            raise ValueError("MeanActor needs one bias per weight matrix")
        self.weights = [np.asarray(w, dtype=float).T.copy() for w in weights]  # (n_in, n_out)
        self.biases = [np.asarray(b, dtype=float) for b in biases]
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.shape[1:] != b.shape or (k and w.shape[0] != self.weights[k - 1].shape[1]):
                raise ValueError(f"layer {k}: weight {w.shape[::-1]} and bias {b.shape} mismatch")

    @property
    def n_obs(self) -> int:
        return self.weights[0].shape[0]

    @property
    def n_act(self) -> int:
        return self.weights[-1].shape[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(batch, n_act) mean actions of (batch, n_obs) normalised observations."""
        y = np.asarray(x, dtype=float)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            y = y @ w + b
            if k < last:
                y = np.tanh(y)
        return y


def action_std(ckpt: dict) -> np.ndarray:
    """(n_act,) the policy's trained standard deviation of each action (``actor_logstd``)."""
    log_std = np.asarray(ckpt["agent"]["actor_logstd"], dtype=float).reshape(-1)
    n_act = len(ckpt["action_names"])
    if len(log_std) != n_act:
        raise KintwinError(f"checkpoint has {len(log_std)} action deviations for {n_act} actions")
    return np.exp(log_std)


def actor_from_checkpoint(ckpt: dict) -> tuple[MeanActor, ObservationNorm]:
    """The mean-action network (the agent's ``actor_mean.<i>`` linear layers, in order) and the
    observation normaliser of a checkpoint read by :func:`read_checkpoint`."""
    state = ckpt["agent"]
    layers = sorted(
        {int(m.group(1)) for k in state if (m := re.fullmatch(r"actor_mean\.(\d+)\.weight", k))}
    )
    if not layers:
        raise KintwinError("checkpoint has no actor_mean layers")
    weights = [np.asarray(state[f"actor_mean.{i}.weight"]) for i in layers]
    biases = [np.asarray(state[f"actor_mean.{i}.bias"]) for i in layers]
    actor = MeanActor(weights, biases)
    norm = ObservationNorm(ckpt["obs_norm"]["mean"], ckpt["obs_norm"]["var"])
    if actor.n_obs != len(ckpt["obs_names"]) or actor.n_act != len(ckpt["action_names"]):
        raise KintwinError(
            f"checkpoint network is {actor.n_obs} -> {actor.n_act}, but it names "
            f"{len(ckpt['obs_names'])} observations and {len(ckpt['action_names'])} actions"
        )
    return actor, norm
