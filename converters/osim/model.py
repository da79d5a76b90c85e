"""The intermediate model: what an .osim says, as plain dataclasses, knowing nothing of MuJoCo.

Frames are given relative to their body (4x4 transforms, metres); angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Body",
    "MeshGeometry",
    "Coordinate",
    "TransformAxis",
    "Joint",
    "Marker",
    "CouplerConstraint",
    "ContactSphere",
    "ContactHalfSpace",
    "ContactMesh",
    "ContactParameters",
    "ContactForce",
    "Unsupported",
    "PathPointSpec",
    "WrapObjectSpec",
    "PathWrapSpec",
    "Muscle",
    "OsimModel",
]


@dataclass
class MeshGeometry:
    """A mesh attached to a body: file name as written, pose in the body frame, scale factors."""

    mesh_file: str
    pose: np.ndarray
    scale: np.ndarray


@dataclass
class Body:
    """A rigid body: mass (kg), centre of mass (m, body frame), inertia about the COM (kg m^2)."""

    name: str
    mass: float
    com: np.ndarray
    inertia: np.ndarray  # Ixx Iyy Izz Ixy Ixz Iyz, as OpenSim writes them
    meshes: list[MeshGeometry] = field(default_factory=list)


@dataclass
class Coordinate:
    """A generalized coordinate of a joint; ``motion_type`` is rotational, translational or coupled."""

    name: str
    joint: str
    default_value: float
    range: tuple[float, float]
    clamped: bool
    locked: bool
    motion_type: str = "rotational"


@dataclass
class TransformAxis:
    """One axis of a joint's spatial transform: rotation or translation about/along ``axis``.

    The axis value is ``function(coordinate values)``; ``axis`` is in the joint's parent frame F
    (for rotations after the previous rotations: body-fixed sequence).
    """

    kind: str  # "rotation" | "translation"
    name: str
    axis: np.ndarray
    coordinates: list[str]
    function: object  # converters.osim.functions.OsimFunction


@dataclass
class Joint:
    """A joint: parent body and frame F in it, child body and frame M in it, its transform axes."""

    name: str
    type: str
    parent_body: str
    parent_frame: np.ndarray  # X_parentbody_F
    child_body: str
    child_frame: np.ndarray  # X_childbody_M
    coordinates: list[str]
    axes: list[TransformAxis]


@dataclass
class Marker:
    name: str
    body: str
    location: np.ndarray  # in the body frame, metres
    fixed: bool = False


@dataclass
class CouplerConstraint:
    """``dependent = function(independent...)`` between coordinates."""

    name: str
    dependent: str
    independent: list[str]
    function: object


@dataclass
class ContactSphere:
    name: str
    body: str
    pose: np.ndarray  # X_body_sphere
    radius: float


@dataclass
class ContactHalfSpace:
    """Half space x > 0 of its frame (OpenSim's convention: the outward normal is -x)."""

    name: str
    body: str
    pose: np.ndarray


@dataclass
class ContactMesh:
    """A closed triangle mesh for elastic-foundation contact: ``mesh_file`` as written in the model,
    pose of the mesh frame in the body frame."""

    name: str
    body: str
    pose: np.ndarray
    mesh_file: str


@dataclass
class ContactParameters:
    """One parameter set of a contact force, shared by the geometry it names.

    ``stiffness``: Hunt-Crossley, N/m^2 (Simbody's Hertz modulus before its 2/3-power mix);
    elastic foundation, N/m^3 (pressure per unit depth). ``dissipation`` s/m; friction
    coefficients dimensionless, ``viscous_friction`` s/m.
    """

    geometry: list[str]
    stiffness: float
    dissipation: float = 0.0
    static_friction: float = 0.0
    dynamic_friction: float = 0.0
    viscous_friction: float = 0.0


@dataclass
class ContactForce:
    """A compliant contact force: HuntCrossleyForce, ElasticFoundationForce or
    SmoothSphereHalfSpaceForce (whose one parameter set names its sphere, then its half space)."""

    type: str
    name: str
    parameters: list[ContactParameters]
    transition_velocity: float = 0.001
    where: str = ""


@dataclass
class Unsupported:
    """An element we did not convert: tag, name and where it sits in the .osim."""

    tag: str
    name: str
    where: str

    def __str__(self) -> str:
        return f"{self.tag} '{self.name}' at {self.where}"


@dataclass
class PathPointSpec:
    """A muscle path point on ``body``.

    ``kind`` is 'fixed', 'conditional' (on the path only while ``coordinate`` is inside
    ``range``) or 'moving' (its x, y, z in ``frame`` are functions of coordinates: ``moving`` holds
    (coordinate, function) per axis, or None for a fixed component taken from ``location``).
    ``location`` and ``frame`` are in the body frame; for moving points ``location`` holds the
    value at the default pose.
    """

    name: str
    body: str
    location: np.ndarray
    kind: str = "fixed"
    coordinate: str | None = None
    range: tuple[float, float] | None = None
    frame: np.ndarray = field(default_factory=lambda: np.eye(4))
    moving: list[tuple[str, object] | None] = field(default_factory=list)


@dataclass
class WrapObjectSpec:
    """A wrap surface on a body: ``type`` WrapCylinder/WrapSphere/WrapEllipsoid/WrapTorus."""

    name: str
    body: str
    type: str
    pose: np.ndarray  # X_body_wrap
    radius: float = 0.0
    length: float = 0.0
    dimensions: np.ndarray = field(default_factory=lambda: np.zeros(3))
    inner_radius: float = 0.0
    outer_radius: float = 0.0
    quadrant: str = "all"
    active: bool = True


@dataclass
class PathWrapSpec:
    """A muscle's use of a wrap object between path points ``range`` (1-based; -1 means all)."""

    wrap_object: str
    method: str = "hybrid"
    range: tuple[int, int] = (-1, -1)


@dataclass
class Muscle:
    """A muscle: physiology in SI units, path points in order, wraps, and every scalar property
    of its element (``properties``) and curve element (``curves``) as written."""

    name: str
    type: str
    max_isometric_force: float
    optimal_fiber_length: float
    tendon_slack_length: float
    pennation_angle: float
    max_contraction_velocity: float
    activation_time_constant: float
    deactivation_time_constant: float
    points: list[PathPointSpec] = field(default_factory=list)
    wraps: list[PathWrapSpec] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    curves: dict[str, dict[str, str]] = field(default_factory=dict)
    where: str = ""


@dataclass
class OsimModel:
    """Everything the converter needs from one .osim file."""

    name: str
    path: str
    version: int
    gravity: np.ndarray
    ground: str
    bodies: dict[str, Body]
    joints: list[Joint]
    coordinates: dict[str, Coordinate]
    markers: list[Marker] = field(default_factory=list)
    couplers: list[CouplerConstraint] = field(default_factory=list)
    contact_geometry: list[ContactSphere | ContactHalfSpace | ContactMesh] = field(
        default_factory=list
    )
    contact_forces: list[ContactForce] = field(default_factory=list)
    muscles: list[Muscle] = field(default_factory=list)
    wrap_objects: dict[str, WrapObjectSpec] = field(default_factory=dict)
    unsupported: list[Unsupported] = field(default_factory=list)

    @property
    def total_mass(self) -> float:
        return float(sum(b.mass for b in self.bodies.values()))
