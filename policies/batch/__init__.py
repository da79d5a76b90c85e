"""Every trial of a study through imitation ID and its report, locally or on a Ray cluster.

``load_trials`` reads a manifest or a folder, ``run_batch`` runs the trials not finished yet
(resumable; a failure is recorded in its row) and writes ``results.csv`` / ``results.parquet``.
"""

from policies.batch.engine import BatchResult, run_batch, write_results
from policies.batch.run import BatchOptions, run_trial
from policies.batch.trials import Trial, find_trials, load_trials, read_manifest

__all__ = ["BatchOptions", "BatchResult", "Trial", "find_trials", "load_trials", "read_manifest",
           "run_batch", "run_trial", "write_results"]  # fmt: skip
