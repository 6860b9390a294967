"""Hygie's reproducible benchmark harness (``python -m bench …``).

Implements the Health Samurai FHIR server benchmark scenarios (CRUD chain and transaction-bundle
import, https://www.health-samurai.io/fhir-server-performance-benchmark) against the FHIR R4 REST
API (https://hl7.org/fhir/R4/http.html). Results are written to ``bench/results/`` and summarised
in ``docs/benchmarks.md``.
"""
