"""Device data ingestion: source formats → normalised samples → FHIR resources (docs/ingestion.md)."""
