"""What the tests share: registries, keys, a private Sigstore, layouts, the CLI runner, servers."""
