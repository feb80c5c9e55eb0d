# tests/rpc.mk -- daemon, protocol, client and regress tests.
