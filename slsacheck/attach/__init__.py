"""slsacheck.attach"""
