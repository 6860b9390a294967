"""Connected health: early-warning scores and device-data metrics (a clinical domain).

Uses :mod:`hygie.fhir` and the storage contract only, never the HTTP layer: the composition root
plugs its operations into the API (docs/architecture.md).
"""
