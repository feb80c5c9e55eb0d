# tests/engine.mk -- engine tests: wheel model, dispatcher, torture.
