"""Diagnostic (session 26): the simulated pelvis height against the kinematics' in one kintwin id
run: RMS error, and the vertical acceleration of each (low-passed at 6 Hz) whose difference is
the vertical force the simulated feet get wrong (1 m/s^2 ~ 10 %BW).
Usage: python runs/diagnostics/pelvis_height.py OUT/<trial>_kinematics.mot IK.mot"""
import sys

import numpy as np
import pandas as pd
from scipy.signal import butter, filtfilt


def read(path):
    lines = open(path).read().splitlines()
    header = next(k for k, line in enumerate(lines) if line.strip() == "endheader")
    return pd.read_csv(path, sep="\t", skiprows=header + 1)


sim, ik = read(sys.argv[1]), read(sys.argv[2])
t = sim["time"].to_numpy()
dt = t[1] - t[0]
height = sim["pelvis_ty"].to_numpy()
ref = np.interp(t, ik["time"].to_numpy(), ik["pelvis_ty"].to_numpy())
err = height - ref
b, a = butter(2, 6 / (0.5 / dt))


def acc(x):
    return np.gradient(np.gradient(filtfilt(b, a, x), dt), dt)


print(f"pelvis height error: {1000 * np.sqrt(np.mean(err**2)):.1f} mm RMS, mean {1000 * err.mean():.1f}")
print(f"vertical acceleration RMS: simulated {np.std(acc(height)):.2f}, kinematics "
      f"{np.std(acc(ref)):.2f}, difference {np.std(acc(height) - acc(ref)):.2f} m/s^2")
print("error every 0.1 s (mm):", " ".join(f"{1000 * e:.1f}" for e in err[::10]))
