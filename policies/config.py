"""Settings of the tracking task, saved with every policy (``to_dict``/``from_dict``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from converters.errors import KintwinError

__all__ = ["TrackingConfig", "parse_settings"]


@dataclass(frozen=True)
class TrackingConfig:
    """Settings of the tracking task (SI units; angles in radians)."""

    control_dt: float = 0.01  # s between policy actions (100 Hz); a multiple of the 2 ms step
    future_frames: tuple[int, ...] = (1, 3, 10)  # control steps ahead observed in the reference
    kp_per_kg: float = 6.0  # PD stiffness, N·m/rad per kg of body mass
    kv_ratio: float = 0.1  # PD damping as a fraction of the stiffness, s
    torque_per_kg: float = 3.0  # torque limit, N·m per kg of body mass
    action_scale: float = 0.5  # rad (or m) of PD-target offset per unit action
    belt_speed: float | None = None  # m/s along OpenSim +x; None: detect from the reference
    residual_root: bool = False  # penalised motors on the root degrees of freedom
    residual_per_bw: float = 0.05  # residual limit, fraction of body weight (N, or N·m per m)
    w_pose: float = 0.4
    k_pose: float = 10.0  # 1/rad²
    w_vel: float = 0.1
    k_vel: float = 0.05  # s²/rad²
    w_root: float = 0.2
    k_root: float = 400.0  # 1/m² (and 1/rad² for root angles)
    w_root_height: float = 0.0  # the root's height alone (it sets when the feet land); 0: off
    k_root_height: float = 1000.0  # 1/m²
    # the root's orientation alone, on a wide kernel: the root term is spent beyond ~5° (its k
    # makes a 5° pelvis error worth 5 % of it), so nothing else pays to correct a drift of 5-20°
    # before the fall at max_root_angle; 0: off
    w_root_angle: float = 0.0
    k_root_angle: float = 20.0  # 1/rad² of the root's rotation angle from the reference's
    w_ee: float = 0.15
    k_ee: float = 100.0  # 1/m²
    w_stance_foot: float = 0.0  # stance feet where the kinematics put them (world, horizontal)
    k_stance_foot: float = 200.0  # 1/m² (summed over the feet in stance); 0 weight: off
    w_contact: float = 0.15  # feet touching the floor when, and only when, the reference's do
    contact_height: float = 0.01  # m; a reference foot this close to the floor is in stance
    w_smooth: float = 0.05  # penalty per squared change of action
    w_effort: float = 0.1  # penalty per squared torque / limit
    w_torque_rate: float = 1.0  # penalty per squared change of torque / limit between steps
    w_residual: float = 0.1  # penalty per squared residual action
    w_grf: float = 0.2  # trials with force plates only: simulated GRF per foot near the measured
    k_grf: float = 10.0  # 1/(body weight)²
    w_load_share: float = 0.15  # double support: trailing foot's share of the vertical load
    k_load_share: float = 50.0  # 1/share²; the prior share falls linearly from 1 to 0
    max_root_error: float = 0.3  # m of root position error before termination
    max_pose_error: float = 0.7  # rad RMS over coordinates before termination
    max_root_angle: float | None = 0.45  # rad between root and reference orientation before
    # termination (a body rolled this far is falling, however close its joints); None: off
    lowpass_hz: float | None = 6.0  # filter applied to the reference coordinates
    # toe joints the kinematics hold still bend where the held toes would go below the foot's
    # stance level (policies.toes; OpenCap's IK locks mtp_angle_r/l), in training and kintwin id
    complete_toes: bool = False
    cycle_padding_s: float = 0.3  # s of a periodic motion's own cycle added before and after it
    action_filter_hz: float | None = 8.0  # first-order low-pass on the actions; None: off
    touch_down: float | None = 0.0005  # m: stance feet start this far into the floor; None: off
    calibrate_contacts: bool = True  # fit foot spheres to how deep the training motions press them
    # each motion's root moved vertically so that its feet stand on the floor (the converter's
    # spheres; policies.root_fit.align_floor) before calibration, in training and kintwin id
    floor_align: bool = False
    contact_percentile: float = 0.0  # calibration depth: this percentile of frames (0: deepest)
    contact_penetration: float = 0.002  # m of penetration the calibration leaves
    contact_grow: float = 0.005  # m: spheres the motions never press that deep grow up to this
    contact_radii: tuple[tuple[str, float], ...] | None = None  # (sphere, radius m): calibrated
    heel_friction: float | None = 0.3  # each foot's rearmost sphere; None: as converted
    contact_solref: tuple[float, float] | None = (
        0.03,
        1.5,
    )  # foot spheres: time constant s, damping ratio
    drive: str = "torque"  # "torque" (PD actuators) or "muscle" (the model's muscles)
    muscle_action: str = "joint"  # "joint" (PD targets -> activations) or "excitation"
    muscle_map_steps: int = 0  # physics steps between activation solves; 0: each control step
    muscle_timestep: float = 0.002  # s, physics step of the muscle drive
    muscle_effort: float = 1e-3  # activation solve: weight of Σa² (relative to the torque fit)
    muscle_reachable: bool = False  # activation solve: only what activation dynamics reach in time
    reserve_per_kg: float = 0.1  # reserve motor limit, N·m per kg of body mass
    w_reserve: float = 0.5  # penalty per squared reserve / limit (mean over reserves)
    w_activation: float = 0.1  # penalty per squared activation (mean over muscles)
    failure_weight: float = 0.0  # resets draw a reference with weight 1 + this x its fall rate
    first_frame_share: float = 0.0  # resets at the reference's first row, where `kintwin id`
    # starts (whole-trial practice: the error a run builds up); the rest at a uniform frame
    seat: bool = False  # a seat box under the thighs of trials that start or end seated
    seat_friction: float = 1.0  # between the seat and the thighs (1.0: MuJoCo's default)
    # torque drive: each actuator also gets the reference's joint moment from the contact solve
    # (converters.contact_solve: ground reactions from the motion alone), so the policy adds
    # only what balance and tracking need on top of a model-based answer (policies.feedforward)
    feedforward: bool = False
    scale_lengths: tuple[float, float] | None = None  # random subject per copy: length factors
    scale_mass_kg: tuple[float, float] = (45.0, 110.0)  # its total mass range, kg
    scale_every: float = 4.0  # mean resets per new subject (a new one with probability 1/this;
    # a new subject costs 35-70 ms CPU, up to half a short episode: every 4th keeps it ~10 %)
    body_reference: tuple[tuple[str, float], ...] | None = None  # ("mass", kg), (body, size m)
    # of the family's reference body, set by training with scale_lengths (policies.body_randomization)

    def to_dict(self) -> dict:
        """JSON-ready values (tuples as lists)."""
        values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        for name in ("contact_radii", "body_reference"):
            if getattr(self, name) is not None:
                values[name] = [list(pair) for pair in getattr(self, name)]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> TrackingConfig:
        """The config saved by ``to_dict`` (fields it lacks take their defaults)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for name in ("muscle_map_steps",):  # integers (a --set value comes as a float)
            if name in known:
                known[name] = int(known[name])
        if "future_frames" in known:
            known["future_frames"] = tuple(known["future_frames"])
        if known.get("contact_solref") is not None:
            known["contact_solref"] = tuple(float(x) for x in known["contact_solref"])
        for name in ("contact_radii", "body_reference"):
            if known.get(name) is not None:
                known[name] = tuple((str(n), float(r)) for n, r in known[name])
        for name in ("scale_lengths", "scale_mass_kg"):
            if known.get(name) is not None:
                known[name] = tuple(float(x) for x in known[name])
        return cls(**known)

    @classmethod
    def from_saved(cls, values: dict) -> TrackingConfig:
        """The config of a saved policy: settings that change the simulation or its
        termination and that the policy predates stay off (the feet it was trained with, the
        falls it was judged by), the rest take defaults."""
        return cls.from_dict({"heel_friction": None, "max_root_angle": None, **values})

    @property
    def action_alpha(self) -> float:
        """Weight of a new action in the first-order filter at the control rate."""
        if not self.action_filter_hz:
            return 1.0
        return float(1.0 - np.exp(-2.0 * np.pi * self.action_filter_hz * self.control_dt))


def parse_settings(items: Iterable[str]) -> dict:
    """``NAME=VALUE`` texts as TrackingConfig values: numbers, ``a,b`` tuples of numbers,
    true/false, none. Raises KintwinError naming the item (and the known names)."""
    values = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in TrackingConfig.__dataclass_fields__ or not text:
            known = ", ".join(TrackingConfig.__dataclass_fields__)
            raise KintwinError(f"--set '{item}': expected NAME=VALUE with NAME one of {known}")
        lowered = text.strip().lower()
        if TrackingConfig.__dataclass_fields__[name].type == "str":
            values[name] = text.strip()
        elif lowered in ("none", "null"):
            values[name] = None
        elif lowered in ("true", "false"):
            values[name] = lowered == "true"
        else:
            try:
                numbers = [float(x) for x in text.split(",")]
            except ValueError:
                raise KintwinError(f"--set '{item}': '{text}' is not a number") from None
            values[name] = numbers[0] if len(numbers) == 1 else tuple(numbers)
    return values
