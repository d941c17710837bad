import type { RequestHandler } from 'express';
import type { SessionTokens } from '../tokens/session-tokens.js';

/**
 * Serves the public keys of the package's tokens as a JWKS (RFC 7517), for data APIs that verify
 * minted tokens and for other instances that verify session tokens. Cacheable for five minutes:
 * during a key rotation, publish the new key that long before it starts signing.
 *
 * @example
 * ```ts
 * app.get('/.well-known/jwks.json', jwksRoute(sessions));
 * ```
 */
export function jwksRoute(tokens: Pick<SessionTokens, 'jwks'>): RequestHandler {
  const body = JSON.stringify(tokens.jwks);
  return function jwks(_req, res) {
    res.setHeader('Content-Type', 'application/jwk-set+json');
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.status(200).send(body);
  };
}
