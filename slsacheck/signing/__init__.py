"""Keys, signers, DSSE, simple signing, Sigstore bundles and trust roots (crypto, no registry I/O)."""
