"""Clinical decision support for medication safety on French data (issue 8).

Pure layers: :mod:`hygie.cds.model` (inputs), :mod:`hygie.cds.findings` (outputs),
:mod:`hygie.cds.knowledge` (the compact knowledge base shipped in ``hygie/cds/data``) and
:mod:`hygie.cds.engine` (``check``). They do no HTTP and no SQL; the CDS Hooks service and the FHIR
side build on them. See docs/medication-safety.md.
"""
