"""Mesh conversion: .vtp/.obj/.stl -> binary STL that MuJoCo loads where OpenSim draws it."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import mujoco
import numpy as np
import pytest
from conftest import shared_data_dir
from lxml import etree

from converters.errors import FileFormatError
from converters.mjcf.meshes import (
    MESH_ASSET_ATTRIBUTES,
    clean_mesh,
    is_flat,
    mesh_problem,
    scale_mesh,
    write_stl,
)
from converters.opensim_io.mesh import Mesh
from converters.opensim_io.mesh_files import find_mesh, read_mesh, read_obj, read_stl
from converters.opensim_io.vtp import read_vtp

GEOMETRY = shared_data_dir() / "opensim-models" / "Geometry"
VTP_FILES = sorted(p.name for p in GEOMETRY.glob("*.vtp")) if GEOMETRY.is_dir() else []
LINES_ONLY = {"axes.vtp", "line.vtp", "outline.vtp"}  # no polygons: nothing MuJoCo can draw
SCALE = (1.1, 0.9, -1.2)  # with a mirror, as OpenSim's scale_factors may have

# Files written by VTK 9.7's vtkXMLPolyDataWriter (zlib-compressed, then base64, to keep them small):
# a vtkCubeSource (24 points, 6 quads, normals; x 1, y 2, z 3 long, centre 0.1 0.2 0.3), and a
# vtkSphereSource (radius 0.05, 8 x 6) passed through vtkStripper (34 points, 10 triangle strips).
CUBE_BINARY_ZLIB_UINT64 = (
    "eNrtV11zojwUvu+vyHDrvAUB0cxod6L41QIWP2tvOqhRUSAW4wf8+g2oCLs77fZ929n3YrlKniTn5Jzn4SQpfzu6Dthjf2sT"
    "r8LlbwXu291Nedh/aNgOBjTY4Ar3SJxAtajFZSeCSUDxC/Fn2K9wmk2pg+vezLY8DiyxxdCX0/JB26OKzIEpcTc+3m4Jm76n"
    "62fNnkRWawnM3d0AUL54izpR18ZTDIydO8F+Z/5IbI9uK5zI7F2wIfYjSLgimu3hLNKjvr3JQpEfhijcyVHsmRmPXAOD+K7l"
    "sNFzgwP9GmGRMuTcSFaxddES5PtWcM5XwyEWlUTmynJxysbFcxQx8XAciMSBeTROK9zE9iw/4EDX8hZYt6MsXzrWMepcXQKA"
    "TJR8i0ujhqqXZvOQDFdwo7AaN1fj8IBaXa1Fe6OOmpv2xp1gRRFSZXycb1Kmy23vtCXG9AMOgBdHoYkvRqerv3SR0axzwCHT"
    "eEJMZZIAhmNvQZeMoMxumdGh5ewwsL0ZPkY0ZEcByGdn8/H0t0zkP26izGcjS1HIJyH8Pq8XJfySV/EtXoVbKa+IYjH6YFGU"
    "BTFNtHhbUgRBgTAPxXxeKRXfJ16/YiOUJl6mq3XdQGq9Xa0PBzU3F9zzSIdaKNgL9EqaiqXNd5Za19vPK4uXvFwIl/1NMzda"
    "m31pQLrFdbAMpo3hbjtvTgu9AXyaSSNiStJB22MNtqUAQ35IcPEVyiXVMpnQzErlT4spld/Sf9dVmo9PlViZTypOAtWw42QA"
    "/ifkVAN/X6en+f+m/NzKUFEUSRAEKCiKAEtZmYqyDKEsiwUFipKSL3yoQPUzBUou4txE3/uGN3+cPLorJ+Tza9IJJOr2xbba"
    "7YVL2VXFmnoc9XWnOGq9jkfBuFM/wBUSwmphX9jpYfU5KC1LhZbRVcetUa8kGoE6scXDk40EdDg0Xe1/oM10Uj9DmwkJxa/Q"
    "ZiKzcnzKviG68yF/ktyUeB6eUntv0+BNheGcCGFaVf+coYyU0C+klPo+WMYzOyXz+RZHf8ef3CQjK53dcnx/+ZvrL8p1Jrvl"
    "083wb7K/KNnZ9MaX+09PtpA5lqQPXZeMRfa6dBysa2YtmlPrzc1dg+f5wWF6dMz9snEfznbSEz0UYDNsCBDv+04R5lra0cL+"
    "hLV41LhHqD78YtrkTLjy++GqV6yJfngWjNmwvTKQMmgQzWw79xYSFqilo+rwveMhYZJ1okda/Hrjr883VtVOz8i7m+/CO/jI"
)
CUBE_BINARY_UINT32 = (
    "eNrtWN1zojAQf+9fkcmrc/IhIsxgO5xox55Y29renC8d1NjS8uEhVeGvvyQICbbj6dne9KF5yv42u5vs/pYAxtna98ASRQs3"
    "DJpQqorw7PTEuBv+6LgeAnEyR004CL3EcmIHsoViVYJgnMToPoymKGrCnhvHHmoHU9cJIHhEDkbvM/PbbhDXZHh6AoCRuyIC"
    "EV00QaD/4o9RdDkbhG4QL5pQVmCB3aGIQCJDem6AyshNHLnzMkTiYESFWSAaGTsnoUE/jHzHw9rNBIJhK8THwMhmUlhhO2Ji"
    "RpGTbJLR8UKHHAf0HR9xPvLIrdCfhwGiB6lBMCP6uAnHbuBECQTXTvCAbJfkOhecNRFYSAC6Ztsk46Gnmfw4WLaOk+notoTj"
    "ZPM4mY6WuVwdJw8OlptNriRGN8hKien/AyUgoNXvyff9y2v7/trsn7ch8MIJXdCEy/i5IA7GUfAQP2Jil6qMnd453gsCbjBF"
    "a0LfshYAqbxaoMt3uZAOd2EI5ZNx1BeKI+zfD3kHvdkP8q5+EKs1SZXlBhl6Q1ZEmW8QuaqpoqjquqTLkqRqjdJJae0sO7Ub"
    "Fccf+RU8G15d/B75YyW100vBnwejAZ61xZbjT58FrE8H9Y1+PTD9uT9aPhG0kuuHK2wvD4V+aic6Xa/V7LQn0vXpJLGXKUGx"
    "vptk622st0SCCukktQdDHE+zsH4l5PZPlraxT+3liMRvUHsaf0H8yzQ+9V/P46/0XP9kZeej/kcbPfZPz/cJCMvVUDueu3zN"
    "35XGhlDcBgXUQp5XAoRXSHY/7d8L2fp/uRqqiq6qak0URV1UVVHXyq0gK4quK4pcV3W5pkr115cH4WIPc6u94ZbGZEw6P+Oy"
    "irn0zOkzmeox984Jt3J7Tmb6CrPnZOZ/R/y/+d9rfwfE34637X/b3479bu9vez9U/gyXB0ei9+jFgnSNj+jFoq0M+sa3o8nw"
    "26Sq5C02CYMATWJ36cbJzo5CFVnX+S76toH4jWd3P1e6/a7A0o7C2WyBSNf/j83g5PPZMui78Vfu9sxdKVtG9hXxlbw9k1dO"
    "F/2we/fkiaVrr/b6lY8fV8XM4j8m8vGdgedsOmH6qzeMzJB9EbCAF0zPQIvZD5heKWZtBt6woDbTM/tbpmfTDgv1k7n6cMoo"
    "pRIopRLYW3lvsX3Zb+W9w6a/9j0CuR4KZmGB/DCgfxIE9isBPwWz/xWnJ38A4QS1Rg=="
)
SPHERE_STRIPS_APPENDED_RAW = (
    "eNrNV0lv00AUbqEsDfvWLYWaoZE4QOMkThfJTlWWqoVSylaJU2WaKVhK7OCY0iAhcUCcOXJCCOiFC3cUx3ABhNobQuLAf+CI"
    "xAU/eyZ9mbQpQkLKSNZ79nzvm/d9k3pcdfb6xXEjRyWnVKAambFypXO6oxNpkdpFwzI1Ig8kiHSr5NA5y85SWyNThuPk6Hkz"
    "a+gmke5Q3X86F5bfmDSdVJJkIpKkciq4gVuDzlNp+l7+FrUvL8xYhukUNZJSiFQ/OGqW2gCS18NUQVOGSTcFXXNso+CjEnKj"
    "9aDljahCGYEuv3UQJk1bdl7P+QUsIRzjowAwZtt6iRk7nrN0sEaa1vN0raK69FkrX7BMGppCpAWYdzSiFwrUzNIska7q5m16"
    "yfA3JLGu0nBeX/LnB+RwJNMIai0sFKmzgbh4VV28Kq/66CzN5WoexOuehNv59/JD/D+plwdkZSQYw0qS1Kv359NM/5CSJoJ6"
    "JZEkm6qvClGDH2ADWf7PfVDhouYt06TzjrFoOKXGGtbdQKRh/XmuYTipNNCwWZchS/H/Njjc0OQaV9Xg77fpPE4lm9zj1GBD"
    "j2tcVcPXX9OZrMjNbXIinah3GZlca2tw4jWdyYlBWSZNbfKgrJCGr+Sqq/4NfEUEnxdx/H2hjrG2gnOZmvNW1jBva8TW74eH"
    "8tyz1hY0Ho2i3OsqdQT3bvTy6N2lYpA/GHqeQXkFYby9q18zcAH+x8lTwQV4lFcQxhv5HeuHesD3TTzpB17Ao7yCMMBfQfwe"
    "4vcQP8dA//4ay/2sf69vYnuM9c/zCsJw/gri9xC/h/gB43379es11AM+nptcBl7Ao7yCMNyfCvLHQ/54yJ+AH+/N6sqUhnL3"
    "/YefKuRf3sa09x/PBHNPYw9VlJcRxl3W3qhwAf7Cu/bgAjzKywjj/v7cRqAe8CvfZwnwAh7lZYQB/jLidxG/i/g5Bvr36x8T"
    "1r+78v0bYf3zvIwwnL+M+F3E7yJ+wLhLpz+9hHrA3zxx/BXwAh7lZYTh/pSRPy7yx0X+BPgWYbzYspbzdDuLO1jcxeJuFvez"
    "eIDFIyzybe9m8SiLXSz2stjJYpTFDhZ7hN6OCX1tFfraKfS1R+irVeDjuiKCrn2CrsOCrm6Bh9fvFeoPCfVdG9TzuoNCXadQ"
    "1yLgOgRcO4vbBL3HBf97hfk9Qj33sU3wuU/Yhx6hrk1YXxLW7xXqogKvJPBEhTo+P4OexVg8zWKKxSEW+ctmnMUpFq+weF3c"
    "Szh68GmTifgftOH/0JnIH2LKssY="
)
SPHERE_STRIPS_APPENDED_BASE64_LZMA = (
    "eNrNWNuOqkgUfe+vILx2MgiCl0T7pABRmpuNiuhLB6FA5H7xQn/9ILQenfbYJzNzEuvFYteqzV5rL8uKvR+HwEd2MM3cKOyj"
    "+F8N9MfLU0+bCpzrQyQvYthHx5FfsEZuoNdAZFXk8D1KLZj2UdHNcx8OQss1QhRZQ6OMvtfbZ3yYt0gUMaMgTmGWRSV8l3vi"
    "UgLHrMw5jL48IUjv9Lbjw/HRhSZE5G2wgqlijyM3zLM+2izzfR0nlAbTI6hxC3MGiW4IvwVN8tSNSxTeuPe+Y8m/SlXTqHiV"
    "pR+JIXKUBoZfbvicoCdMiToCQJoaxaf2nB8ZeZNAEdkI4M8d51cf1YtCWIuCIvZxPe+jRhzD0IIWiqhG6EDJPfbsJtN63ThU"
    "Pa0HQV1AI9vOYP4Nuap0PqzfXhpEgAUSVgWLxLusqNK7CuThAEX8yKwAlQPOXMs4DJ183UcJ9DJlmVQz/C1E3JLL4VjD9SqC"
    "4NdorILfS4F/TXFB+7tsPeya5EXjsDObc8exc8vPIQb6/lUA+xKpLf77lqjx/8oRjb8aZLcaHZJAvzqiXKc+xWmTFPoPRzRx"
    "An08R1xx+u/uuJbgT/jj3OpedWzdafznOVq33YzCEJq5u3Pz4n6Xb37tL7p8e/3U5RbR+QrAfrfKOkv2RwtsNe4UWDbpUtVe"
    "deo/nMZd4rE1bhPkXY2vVO3VP5qPJnKbaj22yHij+bXCC5GvZa3uSQ8nMo7fsPJDiUzcsDJ2eSSfVS0fjnfP6lKKXd5Ke+Cz"
    "rOo2B0MzstzQ6aMrI4MlmWr3O3gD5+GcJq8OfZoWP5f72NRqzbmonHIxn5ME6DAyWDos/zaYHwGxspdJBdD+nuH0Mq9BUUuL"
    "MYcHV3U1qhjYySZ9VdVNhB/GtGk5WGuU7NwRM+28Mo3MyxzcOuwStfsMmzljk0LQ3LQMZ58E2pTVDlMydhRZ5F+zj7nTzZcT"
    "MV3MvLjhRbay4vj5tuvy2IEJ9EQXu2aLpjXveSp0vOdCmlkb4UBpWjs1Vald6GzMvTkq1dExh6DxjmKSB0/jhIolL70tOaks"
    "fkAHoPxkVf6AL54lQIifAtFzLep/p9vHfd3US932EWE3YaXba6VbOtzmH7qQMZzr2XSy9Frq2tw1ElV2pjI20ilCVo3dLk82"
    "zEeAKxt7O83FgBpnesLykGp3fGcsSYoyIzwy2JG81cyLJRt9iKSkvw651OXIxBNbjVkn1BqRy7LplB41wf4j9NKFC1Y631U4"
    "bzFJpqNRGpsyselYGy8NWVKbCGpL9Gg94W2KnRpb3NFedz7G1VTpNrZ3SssM/SO/MuAy/koeb4Ds7vkaovkGADe0+8X4I+u3"
    "eicA5jTN7vaOJiMwWwN1UQHiMa8kEDDhnt5XvQvb7UFTSXbaqukLbWHOzUE+2o7DoJ0MpZDhbGKTCWK6kpVZHGX4OoxJRysS"
    "pRvxIT33nXwT7eJdE++opLjnU2W07Zb+zrfE0LacRRLoS4Vp27NU57bjBbRpJdwEkaTMFVyf5DKFDSKLFPxhEXaKmSmtI/eZ"
    "ATwznDKllxd7uqwdAIYtqO7+9zzN/Yxp93TJwHrGDGjOoTuTScMgAT0uHW0BQAKZk7XNZi5Js4kezrqjN9Zrdd31BN+1Cb9D"
    "Vgl1YRuzDqAljc7JNiN7A2HJvg3+N89Up+PlgfjyVN656v8PXp7+BiUtZMo="
)


def _fixture(tmp_path: Path, data: tuple[str, ...], name: str) -> Path:
    """Write one embedded VTK file into ``tmp_path``."""
    path = tmp_path / name
    path.write_bytes(zlib.decompress(base64.b64decode("".join(data))))
    return path


def _signed_volume(mesh: Mesh) -> float:
    """Volume enclosed by the triangles (positive when they face outwards)."""
    a, b, c = (mesh.vertices[mesh.faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _is_closed_and_oriented(faces: np.ndarray) -> bool:
    """True if every directed edge occurs once and its reverse too (a consistently wound surface)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    return len(directed) == len(edges) and all((b, a) in directed for a, b in directed)


def _regex_vtp(path: Path) -> tuple[np.ndarray, int]:
    """Independent parse of an ASCII .vtp: its points, and its triangle count from Polys offsets."""
    text = path.read_text()
    body = re.search(r"<Points>\s*<DataArray[^>]*>(.*?)</DataArray>", text, re.S).group(1)
    points = np.array([float(x) for x in re.findall(r"\S+", body)]).reshape(-1, 3)
    polys = re.search(r"<Polys>(.*?)</Polys>", text, re.S)
    offsets = re.search(r'Name="offsets"[^>]*>(.*?)</DataArray>', polys.group(1), re.S)
    ends = np.array([int(x) for x in offsets.group(1).split()], dtype=int)
    sizes = np.diff(np.concatenate([[0], ends]))
    return points, int(np.maximum(sizes - 2, 0).sum())


def _mjcf(meshdir: Path, names: list[str], pose: str = "") -> str:
    """A model with one body (explicit inertia) holding one visual mesh geom per STL file."""
    attributes = " ".join(f'{k}="{v}"' for k, v in MESH_ASSET_ATTRIBUTES.items())
    assets = "".join(f'<mesh name="{n}" file="{n}.stl" {attributes}/>' for n in names)
    geoms = "".join(
        f'<geom type="mesh" mesh="{n}" contype="0" conaffinity="0" {pose}/>' for n in names
    )
    return (
        f'<mujoco><compiler meshdir="{meshdir}"/><asset>{assets}</asset><worldbody>'
        f'<body pos="{BODY_POS}" quat="{BODY_QUAT}">'
        f'<inertial pos="0 0 0" mass="1" diaginertia="1 1 1"/><freejoint/>{geoms}'
        "</body></worldbody></mujoco>"
    )


BODY_POS, BODY_QUAT = "0.3 -0.2 1", "0.9 0.1 -0.3 0.2"
GEOM_POS, GEOM_QUAT = "0.05 0.1 -0.2", "0.7 0.2 -0.1 0.4"


def _rotation(quat: str) -> np.ndarray:
    """Rotation matrix of a quaternion given as MJCF text (normalised as MuJoCo does)."""
    q = np.array(quat.split(), dtype=float)
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, q / np.linalg.norm(q))
    return matrix.reshape(3, 3)


def _vec(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=float)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Every Geometry .vtp read and written (scaled by SCALE) once: name -> (mesh, problem)."""
    out = tmp_path_factory.mktemp("stl")
    results = {}
    for name in VTP_FILES:
        mesh = read_vtp(GEOMETRY / name)
        results[name] = (mesh, write_stl(mesh, out / f"{Path(name).stem}.stl", SCALE))
    return out, results


def test_geometry_folder_is_there(shared_data: Path) -> None:
    assert len(VTP_FILES) == 317


@pytest.mark.parametrize("name", VTP_FILES)
def test_every_geometry_vtp_converts(converted: tuple[Path, dict], name: str) -> None:
    out, results = converted
    mesh, problem = results[name]
    points, ntriangles = _regex_vtp(GEOMETRY / name)
    np.testing.assert_array_equal(mesh.vertices, points)
    assert len(mesh.faces) == ntriangles
    assert mesh.faces.dtype == np.int32 and mesh.vertices.dtype == np.float64
    stl = out / f"{Path(name).stem}.stl"
    if name in LINES_ONLY:
        assert ntriangles == 0 and "no triangles" in problem and not stl.exists()
        return
    assert problem is None
    written = read_stl(stl)
    scaled = points * SCALE
    lower, upper = written.bounds()
    # the written mesh lies within the scaled source box, and spans it (all but one file use
    # every point; checkered_floor.vtp has unused points)
    assert np.all(lower >= scaled.min(0) - 1e-6) and np.all(upper <= scaled.max(0) + 1e-6)
    if name != "checkered_floor.vtp":
        np.testing.assert_allclose(written.bounds(), [scaled.min(0), scaled.max(0)], atol=1e-6)
        assert abs(_signed_volume(written)) <= np.prod(upper - lower) * (1 + 1e-6)


def test_written_meshes_load_in_mujoco_where_the_source_says(converted: tuple[Path, dict]) -> None:
    """All meshes in one model: vertex counts, and vertices in world = body * geom pose * source."""
    out, results = converted
    names = [Path(n).stem for n, (_, problem) in results.items() if problem is None]
    pose = f'pos="{GEOM_POS}" quat="{GEOM_QUAT}"'
    model = mujoco.MjModel.from_xml_string(_mjcf(out, names, pose))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    body_r, geom_r = _rotation(BODY_QUAT), _rotation(GEOM_QUAT)
    for i, name in enumerate(names):
        source = clean_mesh(scale_mesh(results[f"{name}.vtp"][0], SCALE))
        single = np.unique(source.vertices.astype(np.float32), axis=0)
        assert model.mesh_vertnum[i] == len(single), name  # STL: MuJoCo merges equal vertices
        start = model.mesh_vertadr[i]
        local = model.mesh_vert[start : start + model.mesh_vertnum[i]].astype(float)
        world = data.geom_xpos[i] + local @ data.geom_xmat[i].reshape(3, 3).T
        expected = _vec(BODY_POS) + (_vec(GEOM_POS) + single @ geom_r.T) @ body_r.T
        size = max(np.abs(single).max(), 1e-3)
        np.testing.assert_allclose(np.sort(world, 0), np.sort(expected, 0), atol=1e-6 * size)
        assert world.shape == expected.shape


def test_matches_opensims_own_mesh_reader(shared_data: Path) -> None:
    """OpenSim's PolygonalMesh (Simbody) reads the same vertices and polygons."""
    opensim = pytest.importorskip("opensim")
    for name in ["femur_r.vtp", "Cube.vtp", "ConePendulum.vtp", "blockMesh.obj", "ellipsoid.stl"]:
        ours = read_mesh(GEOMETRY / name)
        theirs = opensim.PolygonalMesh()
        theirs.loadFile(str(GEOMETRY / name))
        vertices = np.array(
            [
                [theirs.getVertexPosition(i).get(k) for k in range(3)]
                for i in range(theirs.getNumVertices())
            ]
        )
        sizes = [theirs.getNumVerticesForFace(f) for f in range(theirs.getNumFaces())]
        assert len(ours.faces) == sum(n - 2 for n in sizes), name
        if name.endswith(".stl"):  # both merge repeated STL vertices, in their own order
            vertices, ours_v = np.unique(vertices, axis=0), ours.vertices
            np.testing.assert_allclose(ours_v, vertices, atol=1e-12)
        else:
            np.testing.assert_array_equal(ours.vertices, vertices)
            first = [theirs.getFaceVertex(f, 0) for f in range(theirs.getNumFaces())]
            starts = np.cumsum([0] + [n - 2 for n in sizes[:-1]])
            np.testing.assert_array_equal(ours.faces[starts, 0], first)


def test_vtk_binary_inline_compressed_and_uncompressed(tmp_path: Path) -> None:
    zlib64 = read_vtp(_fixture(tmp_path, CUBE_BINARY_ZLIB_UINT64, "a.vtp"))
    plain32 = read_vtp(_fixture(tmp_path, CUBE_BINARY_UINT32, "b.vtp"))
    for cube in (zlib64, plain32):
        assert cube.vertices.shape == (24, 3) and cube.faces.shape == (12, 3)
        np.testing.assert_allclose(cube.bounds(), [[-0.4, -0.8, -1.2], [0.6, 1.2, 1.8]], atol=1e-7)
        assert cube.normals is not None and cube.normals.shape == (24, 3)
        np.testing.assert_allclose(np.abs(cube.normals).sum(1), 1.0)
        assert _signed_volume(cube) == pytest.approx(6.0, rel=1e-6)
    np.testing.assert_array_equal(zlib64.vertices, plain32.vertices)
    np.testing.assert_array_equal(zlib64.faces, plain32.faces)


def test_vtk_appended_raw_and_base64_lzma_with_strips(tmp_path: Path) -> None:
    raw = read_vtp(_fixture(tmp_path, SPHERE_STRIPS_APPENDED_RAW, "raw.vtp"))
    lzma = read_vtp(_fixture(tmp_path, SPHERE_STRIPS_APPENDED_BASE64_LZMA, "lzma.vtp"))
    np.testing.assert_array_equal(raw.vertices, lzma.vertices)
    np.testing.assert_array_equal(raw.faces, lzma.faces)
    np.testing.assert_allclose(raw.normals, lzma.normals)
    assert raw.vertices.shape == (34, 3) and raw.faces.shape == (64, 3)  # as vtkTriangleFilter
    np.testing.assert_allclose(np.linalg.norm(raw.vertices, axis=1), 0.05, rtol=1e-6)
    assert _is_closed_and_oriented(raw.faces)
    assert _signed_volume(raw) == pytest.approx(
        0.00042638937012955575, rel=1e-6
    )  # vtkMassProperties


def _vtp(arrays: str, npoints: int = 4, npolys: int = 2, root: str = "") -> str:
    """A minimal .vtp with the given Points and Polys DataArrays."""
    return (
        f'<VTKFile type="PolyData" version="0.1" byte_order="LittleEndian" {root}><PolyData>'
        f'<Piece NumberOfPoints="{npoints}" NumberOfPolys="{npolys}">{arrays}</Piece>'
        "</PolyData></VTKFile>"
    )


TETRA_POINTS = '<Points><DataArray type="Float32" NumberOfComponents="3" format="ascii">0 0 0 1 0 0 0 1 0 0 0 1</DataArray></Points>'


def _polys(connectivity: str, offsets: str) -> str:
    return (
        '<Polys><DataArray type="Int32" Name="connectivity" format="ascii">'
        f'{connectivity}</DataArray><DataArray type="Int32" Name="offsets" format="ascii">'
        f"{offsets}</DataArray></Polys>"
    )


def test_polygons_are_fan_triangulated(tmp_path: Path) -> None:
    path = tmp_path / "quad.vtp"
    path.write_text(_vtp(TETRA_POINTS + _polys("0 1 2 3  1 2 3", "4 7")))
    np.testing.assert_array_equal(read_vtp(path).faces, [[0, 1, 2], [0, 2, 3], [1, 2, 3]])


def test_separately_encoded_header_and_big_endian(tmp_path: Path) -> None:
    """Binary data whose header is base64-encoded on its own, and BigEndian files."""
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=">f8")

    def separate(values: np.ndarray, header: str) -> str:
        raw = values.tobytes()
        return (base64.b64encode(struct.pack(header, len(raw))) + base64.b64encode(raw)).decode()

    array = (
        '<Points><DataArray type="Float64" NumberOfComponents="3" format="binary">'
        f"{separate(points, '>Q')}</DataArray></Points>"
    )
    path = tmp_path / "big.vtp"
    root = 'header_type="UInt64"'
    path.write_text(_vtp(array + _polys("0 2 1 0 1 3", "3 6"), root=root).replace("Little", "Big"))
    mesh = read_vtp(path)
    np.testing.assert_array_equal(mesh.vertices, points)
    np.testing.assert_array_equal(mesh.faces, [[0, 2, 1], [0, 1, 3]])


CORRUPT = {
    "truncated XML": _vtp(TETRA_POINTS)[:-30],
    "non-number": _vtp(TETRA_POINTS.replace("0 0 1<", "0 0 x<") + _polys("0 1 2", "3"), npolys=1),
    "too few points": _vtp(TETRA_POINTS + _polys("0 1 2", "3"), npoints=5, npolys=1),
    "point out of range": _vtp(TETRA_POINTS + _polys("0 1 7", "3"), npolys=1),
    "offsets past connectivity": _vtp(TETRA_POINTS + _polys("0 1 2", "4"), npolys=1),
    "not PolyData": _vtp(TETRA_POINTS).replace("PolyData", "UnstructuredGrid"),
    "bad base64": _vtp(
        TETRA_POINTS.replace('format="ascii">0 0 0 1 0 0 0 1 0 0 0 1', 'format="binary">@@@@'),
        npolys=0,
    ),
    "lz4": _vtp(TETRA_POINTS.replace("ascii", "binary"), root='compressor="vtkLZ4DataCompressor"'),
    "corrupt zlib": _vtp(
        TETRA_POINTS.replace("ascii", "binary").replace(
            "0 0 0 1 0 0 0 1 0 0 0 1",
            base64.b64encode(struct.pack("<4I", 1, 48, 48, 8) + b"notzlib!").decode(),
        ),
        root='compressor="vtkZLibDataCompressor"',
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_vtp_raises_file_format_error_naming_the_file(tmp_path: Path, case: str) -> None:
    path = tmp_path / "broken_bone.vtp"
    path.write_text(CORRUPT[case])
    with pytest.raises(FileFormatError) as info:
        read_vtp(path)
    assert str(path) in str(info.value)
    if case == "lz4":
        assert "vtkLZ4DataCompressor" in str(info.value)


def test_missing_or_unknown_mesh_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="cannot read"):
        read_mesh(tmp_path / "nothing.vtp")
    (tmp_path / "bone.ply").write_text("ply\n")
    with pytest.raises(FileFormatError, match="unsupported mesh format"):
        read_mesh(tmp_path / "bone.ply")


TETRA = Mesh(
    np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float),
    np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32),
)


def test_degenerate_faces_are_dropped(tmp_path: Path) -> None:
    vertices = np.vstack([TETRA.vertices, [[0.5, 0.5, 0.0], [2.0, 0.0, 0.0]]])  # 4: on edge 1-2
    extra = [[0, 0, 1], [1, 2, 4], [3, 3, 3]]  # repeated index, zero area, all one vertex
    mesh = Mesh(vertices, np.vstack([TETRA.faces, extra]).astype(np.int32))
    assert write_stl(mesh, tmp_path / "t.stl") is None
    written = read_stl(tmp_path / "t.stl")
    assert written.faces.shape == (4, 3) and written.vertices.shape == (4, 3)  # 5 unused: gone
    assert _signed_volume(written) == pytest.approx(1 / 6)


def test_meshes_mujoco_cannot_use_are_reported_not_written(tmp_path: Path) -> None:
    triangle = Mesh(TETRA.vertices[:3], np.array([[0, 1, 2]], np.int32))
    lines = Mesh(TETRA.vertices, np.zeros((0, 3), np.int32))
    collapsed = Mesh(TETRA.vertices * 1e-8, TETRA.faces)  # all areas below 1e-14 m^2
    for mesh in (triangle, lines, collapsed):
        assert write_stl(mesh, tmp_path / "x.stl") is not None
        assert mesh_problem(clean_mesh(mesh)) is not None
        assert not (tmp_path / "x.stl").exists()


def test_flat_meshes_load_with_shell_inertia(tmp_path: Path) -> None:
    square = Mesh(
        np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float),
        np.array([[0, 1, 2], [0, 2, 3]], np.int32),
    )
    assert is_flat(square) and not is_flat(TETRA)
    assert write_stl(square, tmp_path / "square.stl") is None
    model = mujoco.MjModel.from_xml_string(_mjcf(tmp_path, ["square"]))
    assert model.mesh_vertnum[0] == 4


def test_scale_with_a_mirror_keeps_faces_outward(tmp_path: Path) -> None:
    for scale in [(2, 3, 4), (-1, 1, 1), (1, -2, -3), (-1, -1, -1)]:
        scaled = scale_mesh(TETRA, scale)
        np.testing.assert_array_equal(scaled.vertices, TETRA.vertices * scale)
        assert _signed_volume(scaled) == pytest.approx(abs(np.prod(scale)) / 6)
        assert write_stl(TETRA, tmp_path / "s.stl", scale) is None
        assert _signed_volume(read_stl(tmp_path / "s.stl")) == pytest.approx(
            abs(np.prod(scale)) / 6
        )


def test_obj_and_ascii_stl(tmp_path: Path) -> None:
    obj = tmp_path / "q.obj"
    obj.write_text(
        "# quad and a triangle\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvn 0 0 1\n"
        "f 1/1/1 2/2/1 3/3/1 4/4/1\nf -4//1 -2//1 -1//1\n"
    )
    mesh = read_obj(obj)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    stl = tmp_path / "t.stl"
    facets = "".join(
        "facet normal 0 0 0\nouter loop\n"
        + "".join(f"vertex {' '.join(map(str, TETRA.vertices[i]))}\n" for i in face)
        + "endloop\nendfacet\n"
        for face in TETRA.faces
    )
    stl.write_text(f"solid t\n{facets}endsolid t\n")
    ascii_mesh = read_stl(stl)
    assert ascii_mesh.vertices.shape == (4, 3) and _signed_volume(ascii_mesh) == pytest.approx(
        1 / 6
    )
    obj.write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(FileFormatError, match="does not exist"):
        read_obj(obj)


def test_binary_stl_round_trip(tmp_path: Path) -> None:
    mesh = read_vtp(GEOMETRY / "femur_r.vtp")
    assert write_stl(mesh, tmp_path / "f.stl") is None
    back = read_stl(tmp_path / "f.stl")
    cleaned = clean_mesh(mesh)
    assert len(back.faces) == len(cleaned.faces)
    np.testing.assert_array_equal(
        np.sort(back.vertices, 0), np.sort(cleaned.vertices.astype(np.float32).astype(float), 0)
    )


def test_find_mesh_search_order_and_case(tmp_path: Path) -> None:
    model_dir = tmp_path / "Models" / "Arm"
    extra = tmp_path / "extra"
    for folder in (model_dir / "Geometry", extra, tmp_path / "Geometry"):
        folder.mkdir(parents=True)
    for path in [
        model_dir / "a.vtp",
        model_dir / "Geometry" / "a.vtp",
        model_dir / "Geometry" / "b.vtp",
        extra / "b.vtp",
        extra / "c.vtp",
        tmp_path / "Geometry" / "c.vtp",
        tmp_path / "Geometry" / "d.vtp",
        tmp_path / "Geometry" / "Mixed.VTP",
        extra / "e.vtp",
    ]:
        path.write_text("")
    assert find_mesh("a.vtp", model_dir, [extra]) == model_dir / "a.vtp"
    assert find_mesh("b.vtp", model_dir, [extra]) == model_dir / "Geometry" / "b.vtp"
    assert find_mesh("c.vtp", model_dir, [extra]) == extra / "c.vtp"
    assert find_mesh("d.vtp", model_dir, [extra]) == tmp_path / "Geometry" / "d.vtp"
    assert find_mesh("mixed.vtp", model_dir, [extra]) == tmp_path / "Geometry" / "Mixed.VTP"
    assert find_mesh("E.vtp", model_dir, [extra]) == extra / "e.vtp"
    assert find_mesh("Geometry\\b.vtp", model_dir, [extra]) == model_dir / "Geometry" / "b.vtp"
    assert find_mesh("/elsewhere/on/windows/d.vtp", model_dir) == tmp_path / "Geometry" / "d.vtp"
    assert find_mesh("missing.vtp", model_dir, [extra]) is None


def test_typical_model_meshes_are_found_read_and_written(shared_data: Path, tmp_path: Path) -> None:
    """Gait2392: its 20 meshes are found in ../../Geometry, read and written (the time it takes
    is in the conversion benchmark, benchmarks/bench_convert.py)."""
    model = shared_data / "opensim-models" / "Models" / "Gait2392_Simbody" / "subject01.osim"
    meshes = etree.parse(str(model)).iter("Mesh")
    entries = [
        (m.findtext("mesh_file").strip(), m.findtext("scale_factors", "1 1 1")) for m in meshes
    ]
    assert len(entries) == 20
    for name, scale in entries:
        path = find_mesh(name, model.parent)
        assert path is not None, name
        assert (
            write_stl(
                read_mesh(path), tmp_path / f"{Path(name).stem}.stl", map(float, scale.split())
            )
            is None
        )
