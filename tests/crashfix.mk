# tests/crashfix.mk -- the journal's ordering rule for fires (a change that
# depends on a fired one-shot being gone commits with or after its FIRED and
# delivery rows): a deterministic SIGKILL test through the stall test hook.
FIRE_ORDER_TESTS = tests/regress/group-fire-order.sh
TESTS += $(FIRE_ORDER_TESTS)
EXTRA_DIST += $(FIRE_ORDER_TESTS)
