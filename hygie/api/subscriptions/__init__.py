"""Topic-based FHIR Subscriptions on R4 (Subscriptions R5 Backport IG STU 1.1).

http://hl7.org/fhir/uv/subscriptions-backport/ — docs/subscriptions.md. The composition root
uses :mod:`hygie.api.subscriptions.service` (operations, worker start/stop, websocket route);
:mod:`hygie.api.subscriptions.validate` checks Subscription writes. This file stays empty so the
write path can import the validator without pulling in the HTTP layer.
"""
