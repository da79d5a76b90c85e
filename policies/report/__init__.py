"""A self-contained HTML report of one trial of a ``kintwin id`` output folder.

``write_report(folder, "report.html", ReportConfig(...))``: trust flags first (fall, tracking
per coordinate, root residuals, foot slip, distance from the policy's training motions), then
joint moments, GRF per foot, activations and gait events (against references when given) and
frames of the simulated body over the reference.
"""

from policies.report.page import Report, ReportConfig, build_report, write_report
from policies.report.trust import TrustBars

__all__ = ["Report", "ReportConfig", "TrustBars", "build_report", "write_report"]
