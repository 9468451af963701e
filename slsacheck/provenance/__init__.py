"""slsacheck.provenance"""
