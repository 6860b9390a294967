"""The OAuth 2.0 / SMART App Launch 2.2 authorization server (docs/smart.md).

- :mod:`.clients` — registered apps and backend services;
- :mod:`.authorization` — the authorization request (PKCE S256, ``aud``, redirect URI, scopes,
  launch context) and its code (:mod:`.codes`);
- :mod:`.grants` — the token endpoint (authorization code, refresh with rotation and reuse
  detection, client credentials with ``private_key_jwt`` from :mod:`.assertions`);
- :mod:`.issuing` — access, refresh and ID tokens;
- :mod:`.introspection` — RFC 7662 introspection and RFC 7009 revocation;
- :mod:`.revocation` — token families, revoked access-token ids, purging.

The HTTP binding is :mod:`hygie.api.oauth` (endpoints) and :mod:`hygie.api.login_pages` (pages).
"""
