"""slsacheck.policy"""
