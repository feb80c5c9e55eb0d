# bpf/ -- BPF programs attached to probes, and their user-side loader.
