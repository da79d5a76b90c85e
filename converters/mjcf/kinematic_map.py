"""How OpenSim coordinates become MuJoCo ``qpos``: one record per MuJoCo joint.

Each hinge or slide joint of the converted model is either the joint of a coordinate (its value is
the coordinate's value) or a dependent transform axis (its value is a function of one coordinate).
Coordinates that are the dependent side of a CoordinateCouplerConstraint get their value from the
coupler. This module computes exact ``qpos`` from coordinate values and the Jacobian
``d qvel / d (independent coordinate speeds)`` — the reference the MuJoCo equality constraints
approximate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from converters.errors import KintwinError, UnknownNameError

__all__ = ["JointSlot", "Coupling", "KinematicMap"]


@dataclass
class JointSlot:
    """One MuJoCo hinge/slide: driven by ``coordinate`` through ``function`` (None: identity)."""

    name: str
    kind: str  # "hinge" | "slide"
    coordinate: str
    function: object | None
    ref: float
    opensim_joint: str
    axis: str
    qpos: int = -1
    dof: int = -1
    locked_in_simulation: bool = False  # no polynomial can follow it: held at ref in simulation

    @property
    def dependent(self) -> bool:
        return self.function is not None


@dataclass
class Coupling:
    """A coordinate that follows another: ``dependent = function(independent)``."""

    dependent: str
    independent: str
    function: object


@dataclass
class KinematicMap:
    """Coordinates (in OpenSim order) and the MuJoCo joints they drive."""

    coordinates: list[str]
    slots: list[JointSlot]
    couplings: list[Coupling] = field(default_factory=list)
    defaults: dict[str, float] = field(default_factory=dict)

    @property
    def dependent_coordinates(self) -> list[str]:
        return [c.dependent for c in self.couplings]

    @property
    def independent_coordinates(self) -> list[str]:
        dependent = set(self.dependent_coordinates)
        return [c for c in self.coordinates if c not in dependent]

    def slot(self, name: str) -> JointSlot:
        for s in self.slots:
            if s.name == name:
                return s
        raise UnknownNameError("joint", name, [s.name for s in self.slots])

    def complete(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """All coordinate values: given ones, coupler-dependent ones computed, others at default.

        Values are arrays of one shape (one entry per pose); units are radians and metres.
        """
        shape = np.shape(next(iter(values.values()))) if values else ()
        unknown = sorted(set(values) - set(self.coordinates))
        if unknown:
            raise UnknownNameError("coordinate", unknown[0], self.coordinates)
        full = {
            c: np.asarray(values[c], dtype=float)
            if c in values
            else np.full(shape, self.defaults[c])
            for c in self.coordinates
        }
        for coupling in self.couplings:  # in dependency order (see the builder)
            full[coupling.dependent] = coupling.function.value(full[coupling.independent])
        return full

    def qpos(self, values: dict[str, np.ndarray], nq: int) -> np.ndarray:
        """(n, nq) exact MuJoCo positions for coordinate values (each (n,) or scalars)."""
        full = self.complete(values)
        n = int(np.size(next(iter(full.values())))) if full else 1
        out = np.zeros((n, nq))
        for s in self.slots:
            x = np.broadcast_to(full[s.coordinate], (n,))
            out[:, s.qpos] = x if s.function is None else s.function.value(x)
        return out

    def derivatives(
        self,
        values: dict[str, np.ndarray],
        speeds: dict[str, np.ndarray],
        accelerations: dict[str, np.ndarray],
        nv: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, nv) qvel and qacc from independent coordinates' values, speeds and accelerations.

        Dependent coordinates and axes follow by the chain rule:
        y' = f'(x) x', y'' = f''(x) x'^2 + f'(x) x''.
        """
        full = self.complete(values)
        n = int(np.size(next(iter(full.values()))))
        qd = {
            c: np.broadcast_to(np.asarray(speeds.get(c, 0.0), dtype=float), (n,))
            for c in self.independent_coordinates
        }
        qdd = {
            c: np.broadcast_to(np.asarray(accelerations.get(c, 0.0), dtype=float), (n,))
            for c in self.independent_coordinates
        }
        for coupling in self.couplings:
            x = full[coupling.independent]
            d1, d2 = coupling.function.derivative(x, 1), coupling.function.derivative(x, 2)
            qd[coupling.dependent] = d1 * qd[coupling.independent]
            qdd[coupling.dependent] = (
                d2 * qd[coupling.independent] ** 2 + d1 * qdd[coupling.independent]
            )
        qvel, qacc = np.zeros((n, nv)), np.zeros((n, nv))
        for s in self.slots:
            v, a = qd[s.coordinate], qdd[s.coordinate]
            if s.function is None:
                qvel[:, s.dof], qacc[:, s.dof] = v, a
            else:
                x = full[s.coordinate]
                d1, d2 = s.function.derivative(x, 1), s.function.derivative(x, 2)
                qvel[:, s.dof] = d1 * v
                qacc[:, s.dof] = d2 * v**2 + d1 * a
        return qvel, qacc

    def coordinate_rates(self, values: dict[str, float]) -> dict[str, dict[str, float]]:
        """d coordinate / d independent coordinate, at one pose (chain rule through couplers)."""
        full = self.complete({k: np.asarray(v, dtype=float) for k, v in values.items()})
        rates = {c: {c: 1.0} for c in self.independent_coordinates}
        for coupling in self.couplings:
            slope = float(coupling.function.derivative(full[coupling.independent], 1))
            rates[coupling.dependent] = {
                k: slope * v for k, v in rates[coupling.independent].items()
            }
        return rates

    def jacobian(self, values: dict[str, float], nv: int) -> np.ndarray:
        """(nv, n_independent) d qvel / d (independent coordinate speeds) at one pose."""
        full = self.complete({k: np.asarray(v, dtype=float) for k, v in values.items()})
        rates = self.coordinate_rates(values)
        columns = {c: k for k, c in enumerate(self.independent_coordinates)}
        jac = np.zeros((nv, len(columns)))
        for s in self.slots:
            local = (
                1.0 if s.function is None else float(s.function.derivative(full[s.coordinate], 1))
            )
            for independent, rate in rates[s.coordinate].items():
                jac[s.dof, columns[independent]] += local * rate
        return jac

    def check_complete(self) -> None:
        """Every independent coordinate has a joint of its own."""
        own = [s.coordinate for s in self.slots if s.function is None]
        missing = [c for c in self.independent_coordinates if c not in own]
        if missing:
            raise KintwinError(f"coordinates with no joint of their own: {', '.join(missing)}")
