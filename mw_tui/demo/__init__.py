"""The embedded demo archive and the synthetic studies it (and the tests) use."""
