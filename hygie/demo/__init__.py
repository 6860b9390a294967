"""Demo data for a newcomer's first start (``hygie demo``)."""
