"""Speed and accuracy benchmarks; ``make bench`` runs them and writes JSON to benchmarks/results/."""
