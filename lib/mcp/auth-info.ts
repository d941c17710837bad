import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { credentialOf, type Identity } from '../core/identity.js';

/**
 * The MCP SDK's `AuthInfo` for a verified identity: what tool handlers read from
 * `extra.authInfo`. The token stays on the server, as the SDK expects (it is never sent to the
 * MCP client or a tool's output); the package's `Identity` is under `extra.identity`.
 */
export function authInfoOf(identity: Identity, resource: string): AuthInfo {
  return {
    token: credentialOf(identity)?.value ?? '',
    clientId: identity.clientId ?? '',
    scopes: [...identity.scopes],
    ...(identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt }),
    // A URL of its own per request: a tool that edits it changes nothing for anyone else.
    resource: new URL(resource),
    extra: { identity, subject: identity.subject, username: identity.username },
  };
}

/** The identity a guarded MCP request carries in `extra.authInfo`, if any. */
export function identityOfAuthInfo(authInfo: AuthInfo | undefined): Identity | undefined {
  const identity = authInfo?.extra?.['identity'];
  return typeof identity === 'object' && identity !== null ? (identity as Identity) : undefined;
}
