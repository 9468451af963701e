"""slsacheck's tests: unit (no network), integration (real registry on loopback), tekton, admission, audit."""
