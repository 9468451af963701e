"""Promotion: verify an image against policies, then copy it with all its evidence to
other repositories, registries or OCI layouts (`promote`), and record what happened
(`PromotionRecord`, optionally attached as a signed SLSA VSA at each destination)."""

from __future__ import annotations

from slsacheck.promote.promotion import Destination, plan_destinations, promote
from slsacheck.promote.record import DestinationResult, PromotionRecord

__all__ = ["Destination", "DestinationResult", "PromotionRecord", "plan_destinations", "promote"]
