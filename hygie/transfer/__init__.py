"""Data in and out: imports from files, Bulk Data ``$export``/``$import``, record portability.

Above the HTTP layer (it reuses :mod:`hygie.api` interactions such as transaction Bundles) and
below the demo and the composition root, which plugs its operations into
:attr:`hygie.api.http.FhirApi.operations` (docs/architecture.md).
"""
