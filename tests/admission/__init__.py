"""The admission webhook over real HTTPS: reviews, cache, pool, readiness, reload, deploy manifests."""
