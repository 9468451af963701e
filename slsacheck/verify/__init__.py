"""slsacheck.verify"""
