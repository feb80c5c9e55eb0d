# bench/ -- benchmarks: JSON lines, timerd beside its peers in one run.
