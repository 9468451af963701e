"""Against the real Distribution registry on loopback (TLS, auth), buildah, skopeo and the Sigstore peers."""
