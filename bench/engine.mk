# bench/engine.mk -- bench-engine.
