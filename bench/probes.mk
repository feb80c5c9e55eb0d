# bench/probes.mk -- bench-probes.
