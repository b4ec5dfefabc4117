"""Pure types and rules (geometry, detections, counting).

Imports nothing else of keliu; stdlib + numpy only.
"""
