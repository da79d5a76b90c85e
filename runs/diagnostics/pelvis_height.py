"""Diagnostic (session 26): the simulated pelvis height against the kinematics' in one kintwin id
run: RMS error, and the vertical acceleration of each (low-passed at 6 Hz) whose difference is
the vertical force the simulated feet get wrong (1 m/s^2 ~ 10 %BW).
Usage: python runs/diagnostics/pelvis_height.py OUT/<trial>_kinematics.mot IK.mot"""
import sys
from pathlib import Path

import numpy as np
from scipy.signal import butter, filtfilt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from converters.opensim_io.table import read_table


sim, ik = read_table(sys.argv[1]), read_table(sys.argv[2])
t = sim.time
dt = t[1] - t[0]
height = sim.column("pelvis_ty")
ref = np.interp(t, ik.time, ik.column("pelvis_ty"))
err = height - ref
b, a = butter(2, 6 / (0.5 / dt))


def acc(x):
    return np.gradient(np.gradient(filtfilt(b, a, x), dt), dt)


print(f"pelvis height error: {1000 * np.sqrt(np.mean(err**2)):.1f} mm RMS, mean {1000 * err.mean():.1f}")
print(f"vertical acceleration RMS: simulated {np.std(acc(height)):.2f}, kinematics "
      f"{np.std(acc(ref)):.2f}, difference {np.std(acc(height) - acc(ref)):.2f} m/s^2")
print("error every 0.1 s (mm):", " ".join(f"{1000 * e:.1f}" for e in err[::10]))
