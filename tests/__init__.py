"""slsacheck's test suite: unit (no network), integration (real registry on loopback), tekton, admission, audit, docs."""
