"""Visitor resolution (per site): sightings in, visits out — de-dup, cross-camera matching, staff,
invalid traffic (couriers), batches, new vs returning visitors. Semantics: docs/visitors.md.

Pure given its inputs and clock; imports only keliu.domain (stdlib + numpy).
"""

from keliu.resolve.resolver import Resolver, ResolverStats, StaffSuggestion
from keliu.resolve.rules import ResolverRules, default_courier_classes, expires_at
from keliu.resolve.summary import TrafficSummary, summarize

__all__ = [
    "Resolver",
    "ResolverRules",
    "ResolverStats",
    "StaffSuggestion",
    "TrafficSummary",
    "default_courier_classes",
    "expires_at",
    "summarize",
]
