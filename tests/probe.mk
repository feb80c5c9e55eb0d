# tests/probe.mk -- BPF probe tests.
