"""Parse an ``.osim`` file into the intermediate :class:`~converters.osim.model.OsimModel`.

One small handler per OpenSim element type, dispatched by tag. Files older than OpenSim 4
(document version < 40000) are first upgraded by the ``opensim`` package, which reads them and
prints them in the current format. Elements that cannot be converted are collected in
``OsimModel.unsupported`` with their path in the file, never silently dropped.
"""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path

import numpy as np
from lxml import etree

from converters.errors import FileFormatError, KintwinError
from converters.opensim_io.xml_fields import parse_xml
from converters.osim.contact import CONTACT_FORCES, contact_force, contact_shape
from converters.osim.functions import parse_function
from converters.osim.model import (
    Body,
    ContactHalfSpace,
    ContactMesh,
    ContactSphere,
    Coordinate,
    CouplerConstraint,
    Joint,
    Marker,
    MeshGeometry,
    Muscle,
    OsimModel,
    PathPointSpec,
    PathWrapSpec,
    TransformAxis,
    Unsupported,
    WrapObjectSpec,
)
from converters.spatial import euler_xyz_body, transform

__all__ = ["load_osim", "CURRENT_VERSION"]

CURRENT_VERSION = 40000
X, Y, Z = np.eye(3)

# Fixed-axis joints: (kind, axis) in order, each driven by the joint's coordinates in turn.
# OpenSim/Simbody: translations are along F axes; rotations are body-fixed, in this order.
_FIXED_JOINTS: dict[str, list[tuple[str, np.ndarray]]] = {
    "PinJoint": [("rotation", Z)],
    "SliderJoint": [("translation", X)],
    "UniversalJoint": [("rotation", X), ("rotation", Y)],
    "BallJoint": [("rotation", X), ("rotation", Y), ("rotation", Z)],
    "GimbalJoint": [("rotation", X), ("rotation", Y), ("rotation", Z)],
    "FreeJoint": [
        ("rotation", X),
        ("rotation", Y),
        ("rotation", Z),
        ("translation", X),
        ("translation", Y),
        ("translation", Z),
    ],
    "PlanarJoint": [("rotation", Z), ("translation", X), ("translation", Y)],
    "WeldJoint": [],
}
_JOINT_TAGS = {"CustomJoint", *_FIXED_JOINTS}
_MUSCLE_SUFFIXES = ("Muscle", "Muscle_Deprecated")
# Forces that only act through a control signal: zero without one, so nothing is lost.
_ACTUATORS = {
    "CoordinateActuator",
    "PointActuator",
    "TorqueActuator",
    "PathActuator",
    "ActivationCoordinateActuator",
    "McKibbenActuator",
    "BodyActuator",
}


# ------------------------------------------------------------------------------------- entry


def load_osim(path: str | Path) -> OsimModel:
    """Read ``path`` (upgrading OpenSim 3 files first) into an :class:`OsimModel`."""
    path = Path(path)
    root = parse_xml(path)
    version = _document_version(path, root)
    if version < CURRENT_VERSION:
        root = _upgraded_root(path)
    model = root.find("Model")
    if model is None:
        raise FileFormatError(path, "no <Model> element: not an OpenSim model")
    try:
        return _ModelReader(path, version, model).read()
    except _Malformed as error:
        problem, line = error.args
        raise FileFormatError(path, problem, line=line) from None
    except (ValueError, IndexError, OverflowError) as error:  # malformed deeper in (functions)
        raise FileFormatError(path, f"malformed model: {error}") from None


def _document_version(path: Path, root: etree._Element) -> int:
    if root.tag != "OpenSimDocument":
        raise FileFormatError(path, f"root element is <{root.tag}>, not <OpenSimDocument>")
    try:
        return int(root.get("Version", "0"))
    except ValueError:
        raise FileFormatError(
            path, f"document Version '{root.get('Version')}' is not a number"
        ) from None


def _upgraded_root(path: Path) -> etree._Element:
    """Let the opensim package read an old-format model, print it in the current format (in a
    temporary folder, removed afterwards) and parse that."""
    from converters.opensim_reference.log import opensim_log

    with opensim_log("off") as opensim:  # the upgrade itself is what we report
        try:
            model = opensim.Model(str(path))
        except Exception as error:  # opensim raises plain RuntimeErrors
            text = str(error).strip()
            first = text.splitlines()[0] if text else type(error).__name__
            raise FileFormatError(
                path, f"OpenSim could not read this old-format model: {first}"
            ) from None
        with tempfile.TemporaryDirectory(prefix="kintwin_upgrade_") as folder:
            target = Path(folder) / path.name
            model.printToXML(str(target))
            return parse_xml(target)


# ------------------------------------------------------------------------------------ helpers


def _text(element: etree._Element, tag: str, default: str = "") -> str:
    child = element.find(tag)
    return default if child is None or child.text is None else child.text.strip()


class _Malformed(Exception):
    """A property whose value cannot be read: (problem, line); load_osim adds the file."""


def _numbers(element: etree._Element, tag: str, default: tuple[float, ...]) -> np.ndarray:
    """``len(default)`` numbers (``default`` when the property is absent or empty)."""
    text = _text(element, tag)
    if not text:
        return np.array(default, dtype=float)
    try:
        values = np.array([float(v) for v in text.split()], dtype=float)
    except ValueError:
        values = np.array([])
    infinite_ok = tag == "range"  # an open range may be written as -inf/inf
    if values.size != len(default) or np.isnan(values).any():
        expected = f"{len(default)} numbers"
    elif not infinite_ok and not np.isfinite(values).all():
        expected = f"{len(default)} finite numbers"
    else:
        return values
    line = element.find(tag).sourceline
    raise _Malformed(f"<{tag}> is '{text[:40]}', expected {expected}", line)


def _float(element: etree._Element, tag: str, default: float) -> float:
    """One number (``default`` when the property is absent or empty)."""
    return float(_numbers(element, tag, (default,))[0])


def _flag(element: etree._Element, tag: str, default: bool) -> bool:
    text = _text(element, tag).lower()
    return default if not text else text in ("true", "1", "yes")


def _objects(element: etree._Element | None) -> list[etree._Element]:
    """Child elements of a Set's <objects> (or of the element itself)."""
    if element is None:
        return []
    objects = element.find("objects")
    container = objects if objects is not None else element
    return [e for e in container if isinstance(e.tag, str)]


def _offset(element: etree._Element, translation: str = "translation") -> np.ndarray:
    """X_parent_frame of an offset frame (``translation`` tag, body-fixed XYZ ``orientation``).

    Contact geometry writes its translation as ``location``.
    """
    return transform(
        euler_xyz_body(_numbers(element, "orientation", (0, 0, 0))),
        _numbers(element, translation, (0, 0, 0)),
    )


class _ModelReader:
    """Reads one <Model>: frames first (so every reference can be resolved), then the rest."""

    def __init__(self, path: Path, version: int, model: etree._Element) -> None:
        self.path = path
        self.version = version
        self.model = model
        self.frames: dict[str, tuple[str | None, np.ndarray, str]] = {}  # path -> (parent, X, body)
        self.unsupported: list[Unsupported] = []
        self.ground = (
            model.find("Ground").get("name") if model.find("Ground") is not None else "ground"
        ) or "ground"

    def where(self, element: etree._Element) -> str:
        return f"{self.path.name}:{element.sourceline}"

    def unsupported_element(self, element: etree._Element) -> None:
        self.unsupported.append(
            Unsupported(element.tag, element.get("name", ""), self.where(element))
        )

    def read(self) -> OsimModel:
        self._register_frames()
        bodies = {b.get("name"): self._body(b) for b in _objects(self.model.find("BodySet"))}
        joints, coordinates = self._joints()
        model = OsimModel(
            name=self.model.get("name") or self.path.stem,
            path=str(self.path),
            version=self.version,
            gravity=_numbers(self.model, "gravity", (0, -9.80665, 0)),
            ground=self.ground,
            bodies=bodies,
            joints=joints,
            coordinates=coordinates,
        )
        model.markers = [self._marker(m) for m in _objects(self.model.find("MarkerSet"))]
        model.couplers = self._constraints()
        model.contact_geometry = self._contact_geometry()
        model.wrap_objects = self._wrap_objects()
        self._forces(model)
        model.unsupported = self.unsupported
        _check_tree(self.path, model)
        return model

    # ------------------------------------------------------------------------------- frames

    def _register_frames(self) -> None:
        self.frames["/ground"] = (None, np.eye(4), self.ground)
        for body in _objects(self.model.find("BodySet")):
            owner = f"/bodyset/{body.get('name')}"
            self.frames[owner] = (None, np.eye(4), body.get("name"))
            self._register_offsets(body.find("components"), owner)
        self._register_offsets(self.model.find("Ground/components"), "/ground")
        self._register_offsets(self.model.find("components"), "")
        for joint in _objects(self.model.find("JointSet")):
            self._register_offsets(joint.find("frames"), f"/jointset/{joint.get('name')}")

    def _register_offsets(self, container: etree._Element | None, owner: str) -> None:
        for frame in [] if container is None else container:
            if not isinstance(frame.tag, str):
                continue
            if frame.tag != "PhysicalOffsetFrame":
                self.unsupported_element(frame)
                continue
            own_path = f"{owner}/{frame.get('name')}"
            parent = self._absolute(_text(frame, "socket_parent"), own_path)
            self.frames[own_path] = (parent, _offset(frame), "")
            self._register_offsets(frame.find("components"), own_path)

    @staticmethod
    def _absolute(reference: str, owner_path: str) -> str:
        """An OpenSim component path made absolute, relative ones taken from ``owner_path``."""
        if reference.startswith("/"):
            return posixpath.normpath(reference)
        return posixpath.normpath(f"{owner_path}/{reference}")

    def resolve(
        self, reference: str, owner_path: str, element: etree._Element
    ) -> tuple[str, np.ndarray]:
        """(body name, X_body_frame) of a frame reference made from ``owner_path``."""
        path = self._absolute(reference, owner_path)
        pose = np.eye(4)
        for _ in range(64):
            if path not in self.frames:
                known = ", ".join(sorted(self.frames)[:12])
                raise KintwinError(
                    f"{self.where(element)}: frame '{reference}' (resolved to {path}) "
                    f"is not in the model; frames include: {known}, ..."
                )
            parent, x_parent_frame, body = self.frames[path]
            pose = x_parent_frame @ pose
            if parent is None:
                return body, pose
            path = parent
        raise KintwinError(f"{self.where(element)}: frame '{reference}' has a cyclic parent chain")

    # ------------------------------------------------------------------------------- bodies

    def _body(self, element: etree._Element) -> Body:
        name = element.get("name")
        inertia = _numbers(element, "inertia", (0, 0, 0, 0, 0, 0))
        if inertia.size != 6:
            raise KintwinError(f"{self.where(element)}: body '{name}' inertia needs 6 numbers")
        body = Body(
            name=name,
            mass=_float(element, "mass", 0.0),
            com=_numbers(element, "mass_center", (0, 0, 0)),
            inertia=inertia,
        )
        body.meshes = self._meshes(element, f"/bodyset/{name}")
        return body

    def _meshes(self, element: etree._Element, owner: str) -> list[MeshGeometry]:
        found = []
        for frame_owner, container in self._geometry_holders(element, owner):
            for mesh in container.findall("attached_geometry/Mesh"):
                socket = _text(mesh, "socket_frame", "..")
                _, pose = self.resolve(socket, f"{frame_owner}/{mesh.get('name')}", mesh)
                found.append(
                    MeshGeometry(
                        mesh_file=_text(mesh, "mesh_file"),
                        pose=pose,
                        scale=_numbers(mesh, "scale_factors", (1, 1, 1)),
                    )
                )
        return found

    def _geometry_holders(self, element: etree._Element, owner: str):
        yield owner, element
        components = element.find("components")
        for frame in [] if components is None else components.findall("PhysicalOffsetFrame"):
            yield from self._geometry_holders(frame, f"{owner}/{frame.get('name')}")

    # ------------------------------------------------------------------------------- joints

    def _joints(self) -> tuple[list[Joint], dict[str, Coordinate]]:
        joints, coordinates = [], {}
        for element in _objects(self.model.find("JointSet")):
            if element.tag not in _JOINT_TAGS:
                raise KintwinError(
                    f"{self.where(element)}: joint type {element.tag} "
                    f"('{element.get('name')}') is not supported; supported: "
                    f"{', '.join(sorted(_JOINT_TAGS))}"
                )
            joint = self._joint(element)
            joints.append(joint)
            for coordinate in self._coordinates(element, joint):
                coordinates[coordinate.name] = coordinate
        return joints, coordinates

    def _joint(self, element: etree._Element) -> Joint:
        name = element.get("name")
        owner = f"/jointset/{name}"
        parent_body, x_pf = self.resolve(_text(element, "socket_parent_frame"), owner, element)
        child_body, x_cm = self.resolve(_text(element, "socket_child_frame"), owner, element)
        coordinates = [c.get("name") for c in _objects(element.find("coordinates"))]
        if element.tag == "CustomJoint":
            axes = self._spatial_transform(element)
        else:
            axes = self._fixed_axes(element, coordinates)
        return Joint(
            name=name,
            type=element.tag,
            parent_body=parent_body,
            parent_frame=x_pf,
            child_body=child_body,
            child_frame=x_cm,
            coordinates=coordinates,
            axes=axes,
        )

    def _spatial_transform(self, element: etree._Element) -> list[TransformAxis]:
        transform_element = element.find("SpatialTransform")
        if transform_element is None:
            raise KintwinError(f"{self.where(element)}: CustomJoint without a SpatialTransform")
        axes = []
        for axis in transform_element.findall("TransformAxis"):
            name = axis.get("name", "")
            kind = "rotation" if name.startswith("rotation") else "translation"
            function = next(
                (
                    c
                    for c in axis
                    if isinstance(c.tag, str) and c.tag not in ("coordinates", "axis")
                ),
                None,
            )
            if function is not None and function.tag == "function":
                function = next((c for c in function if isinstance(c.tag, str)), None)
            if function is None:
                continue  # no function: the axis is unused (value 0)
            axes.append(
                TransformAxis(
                    kind=kind,
                    name=name,
                    axis=_numbers(axis, "axis", (0, 0, 1)),
                    coordinates=_text(axis, "coordinates").split(),
                    function=parse_function(function),
                )
            )
        return axes

    def _fixed_axes(self, element: etree._Element, coordinates: list[str]) -> list[TransformAxis]:
        from converters.osim.functions import LinearFunction

        layout = _FIXED_JOINTS[element.tag]
        if len(coordinates) != len(layout):
            raise KintwinError(
                f"{self.where(element)}: {element.tag} '{element.get('name')}' has "
                f"{len(coordinates)} coordinates, expected {len(layout)}"
            )
        axes = []
        for k, ((kind, axis), coordinate) in enumerate(zip(layout, coordinates, strict=True)):
            axes.append(
                TransformAxis(
                    kind=kind,
                    name=f"{kind}{k + 1}",
                    axis=axis.copy(),
                    coordinates=[coordinate],
                    function=LinearFunction(1.0, 0.0),
                )
            )
        return axes

    def _coordinates(self, element: etree._Element, joint: Joint) -> list[Coordinate]:
        found = []
        for c in _objects(element.find("coordinates")):
            value_range = _numbers(c, "range", (-np.pi / 2, np.pi / 2))
            found.append(
                Coordinate(
                    name=c.get("name"),
                    joint=joint.name,
                    default_value=_float(c, "default_value", 0.0),
                    range=(float(value_range[0]), float(value_range[1])),
                    clamped=_flag(c, "clamped", True),
                    locked=_flag(c, "locked", False),
                    motion_type=_motion_type(c.get("name"), joint),
                )
            )
        return found

    # ---------------------------------------------------------------------- markers, constraints

    def _marker(self, element: etree._Element) -> Marker:
        name = element.get("name")
        body, pose = self.resolve(
            _text(element, "socket_parent_frame"), f"/markerset/{name}", element
        )
        location = pose[:3, :3] @ _numbers(element, "location", (0, 0, 0)) + pose[:3, 3]
        return Marker(name=name, body=body, location=location, fixed=_flag(element, "fixed", False))

    def _constraints(self) -> list[CouplerConstraint]:
        couplers = []
        for element in _objects(self.model.find("ConstraintSet")):
            enforced = _flag(element, "isEnforced", True) and not _flag(
                element, "isDisabled", False
            )
            if element.tag != "CoordinateCouplerConstraint":
                self.unsupported_element(element)
                continue
            if not enforced:
                continue
            function = element.find("coupled_coordinates_function")
            inner = (
                None
                if function is None
                else next((c for c in function if isinstance(c.tag, str)), None)
            )
            if inner is None:
                raise KintwinError(
                    f"{self.where(element)}: coupler '{element.get('name')}' has no function"
                )
            couplers.append(
                CouplerConstraint(
                    name=element.get("name"),
                    dependent=_text(element, "dependent_coordinate_name"),
                    independent=_text(element, "independent_coordinate_names").split(),
                    function=parse_function(inner),
                )
            )
        return couplers

    # --------------------------------------------------------------------------- contact, forces

    def _contact_geometry(self) -> list[ContactSphere | ContactHalfSpace | ContactMesh]:
        found = []
        for element in _objects(self.model.find("ContactGeometrySet")):
            name = element.get("name")
            body, x_bf = self.resolve(
                _text(element, "socket_frame"), f"/contactgeometryset/{name}", element
            )
            pose = x_bf @ _offset(element, translation="location")
            shape = contact_shape(element, body, pose, self.where(element))
            if shape is None:
                self.unsupported_element(element)
            else:
                found.append(shape)
        return found

    # ------------------------------------------------------------------------------- muscles

    def _muscle(self, element: etree._Element) -> Muscle:
        name = element.get("name")
        properties = {
            c.tag: (c.text or "").strip() for c in element if isinstance(c.tag, str) and len(c) == 0
        }
        curves = {
            c.tag: {g.tag: (g.text or "").strip() for g in c if isinstance(g.tag, str)}
            for c in element
            if isinstance(c.tag, str) and c.tag.endswith("Curve")
        }
        values = {}
        for attribute, (tag, default) in _MUSCLE_FIELDS.items():
            text = properties.get(tag) or properties.get(_OLD_TIME_CONSTANTS.get(attribute, ""), "")
            try:
                values[attribute] = float(text) if text else default
            except ValueError:
                raise KintwinError(
                    f"{self.where(element)}: muscle '{name}' has {tag} '{text}', not a number"
                ) from None
        path = element.find("GeometryPath")
        owner = f"/forceset/{name}/geometrypath"
        points = [
            self._path_point(p, owner)
            for p in _objects(None if path is None else path.find("PathPointSet"))
        ]
        wraps = [
            PathWrapSpec(
                wrap_object=_text(w, "wrap_object"),
                method=_text(w, "method", "hybrid"),
                range=tuple(int(float(v)) for v in _text(w, "range", "-1 -1").split()),
            )
            for w in _objects(None if path is None else path.find("PathWrapSet"))
        ]
        return Muscle(
            name=name,
            type=element.tag,
            points=points,
            wraps=wraps,
            properties=properties,
            curves=curves,
            where=self.where(element),
            **values,
        )

    def _path_point(self, element: etree._Element, owner: str) -> PathPointSpec:
        name = element.get("name", "")
        body, frame = self.resolve(
            _text(element, "socket_parent_frame"), f"{owner}/{name}", element
        )
        location = frame[:3, :3] @ _numbers(element, "location", (0, 0, 0)) + frame[:3, 3]
        if element.tag == "PathPoint":
            return PathPointSpec(name, body, location, frame=frame)
        if element.tag == "ConditionalPathPoint":
            value_range = _numbers(element, "range", (-np.inf, np.inf))
            return PathPointSpec(
                name,
                body,
                location,
                "conditional",
                coordinate=_text(element, "socket_coordinate").rsplit("/", 1)[-1],
                range=(float(value_range[0]), float(value_range[1])),
                frame=frame,
            )
        if element.tag == "MovingPathPoint":
            return self._moving_point(element, name, body, frame)
        raise KintwinError(
            f"{self.where(element)}: path point type {element.tag} ('{name}') is not "
            "supported; supported: PathPoint, ConditionalPathPoint, MovingPathPoint"
        )

    def _moving_point(
        self, element: etree._Element, name: str, body: str, frame: np.ndarray
    ) -> PathPointSpec:
        fixed = _numbers(element, "location", (0, 0, 0))
        moving: list[tuple[str, object] | None] = []
        for axis in "xyz":
            holder = element.find(f"{axis}_location")
            inner = (
                None
                if holder is None
                else next((c for c in holder if isinstance(c.tag, str)), None)
            )
            if inner is None:
                moving.append(None)
                continue
            coordinate = _text(element, f"socket_{axis}_coordinate").rsplit("/", 1)[-1]
            moving.append((coordinate, parse_function(inner)))
        return PathPointSpec(
            name, body, frame[:3, :3] @ fixed + frame[:3, 3], "moving", frame=frame, moving=moving
        )

    def _wrap_objects(self) -> dict[str, WrapObjectSpec]:
        found = {}
        holders = [(b.get("name"), b) for b in _objects(self.model.find("BodySet"))]
        ground = self.model.find("Ground")
        if ground is not None:
            holders.append((self.ground, ground))
        for body, element in holders:
            for wrap in _objects(element.find("WrapObjectSet")):
                name = wrap.get("name")
                pose = transform(
                    euler_xyz_body(_numbers(wrap, "xyz_body_rotation", (0, 0, 0))),
                    _numbers(wrap, "translation", (0, 0, 0)),
                )
                found[name] = WrapObjectSpec(
                    name=name,
                    body=body,
                    type=wrap.tag,
                    pose=pose,
                    radius=_float(wrap, "radius", 0.0),
                    length=_float(wrap, "length", 0.0),
                    dimensions=_numbers(wrap, "dimensions", (0, 0, 0)),
                    inner_radius=_float(wrap, "inner_radius", 0.0),
                    outer_radius=_float(wrap, "outer_radius", 0.0),
                    quadrant=_text(wrap, "quadrant", "all") or "all",
                    active=_flag(wrap, "active", True),
                )
        return found

    def _forces(self, model: OsimModel) -> None:
        for element in _objects(self.model.find("ForceSet")):
            if element.tag.endswith(_MUSCLE_SUFFIXES):
                model.muscles.append(self._muscle(element))
            elif element.tag in CONTACT_FORCES:
                model.contact_forces.append(contact_force(element, self.where(element)))
            elif element.tag not in _ACTUATORS:
                self.unsupported_element(element)


_MUSCLE_FIELDS = {  # Muscle attribute -> (XML property, default)
    "max_isometric_force": ("max_isometric_force", 1000.0),
    "optimal_fiber_length": ("optimal_fiber_length", 0.1),
    "tendon_slack_length": ("tendon_slack_length", 0.2),
    "pennation_angle": ("pennation_angle_at_optimal", 0.0),
    "max_contraction_velocity": ("max_contraction_velocity", 10.0),
    "activation_time_constant": ("activation_time_constant", 0.01),
    "deactivation_time_constant": ("deactivation_time_constant", 0.04),
}
_OLD_TIME_CONSTANTS = {
    "activation_time_constant": "activation1",
    "deactivation_time_constant": "activation2",
}  # Schutte1993


def _motion_type(name: str, joint: Joint) -> str:
    """OpenSim's rule: rotational if the coordinate drives a rotation axis by a LinearFunction, else
    translational if it drives a translation axis by one, else coupled (even a MultiplierFunction
    of a LinearFunction counts as coupled, as in OpenSim)."""
    from converters.osim.functions import LinearFunction

    linear = {
        a.kind for a in joint.axes if a.coordinates == [name] and type(a.function) is LinearFunction
    }
    if "rotation" in linear:
        return "rotational"
    return "translational" if "translation" in linear else "coupled"


def _check_tree(path: Path, model: OsimModel) -> None:
    """Every body has exactly one joint to its parent, and the joints form a tree from ground."""
    children = [j.child_body for j in model.joints]
    repeated = sorted({c for c in children if children.count(c) > 1})
    if repeated:
        raise KintwinError(
            f"{path}: bodies with more than one parent joint (closed loops are not "
            f"supported): {', '.join(repeated)}"
        )
    orphans = sorted(set(model.bodies) - set(children))
    if orphans:
        raise KintwinError(f"{path}: bodies with no joint to a parent: {', '.join(orphans)}")
