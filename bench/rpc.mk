# bench/rpc.mk -- timerd-bench and compare-peers.
