import { randomUUID } from 'node:crypto';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { RequestAudit, type RequestFacts } from '../audit/request-audit.js';
import type { AuditTrail } from '../audit/auditor.js';
import type { IdentifyingAuthenticator } from '../bearer/bearer-authenticator.js';
import { asIdentityError, clientMessage, IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { checkSoleAudience } from './audience.js';
import { authInfoOf } from './auth-info.js';
import type { CallPolicy } from './call-policy.js';

interface VerifierSettings {
  readonly authenticator: IdentifyingAuthenticator;
  readonly policy: CallPolicy;
  readonly trail: AuditTrail;
  readonly source: string;
  readonly resource: string;
  readonly acceptOtherAudiences: boolean;
  readonly now: () => number;
}

/**
 * An `OAuthTokenVerifier` for the SDK's `requireBearerAuth`. The SDK renders every error itself
 * and knows only "invalid token" (401) and "server error" (500): a refusal by policy (a service
 * account) is told as an invalid token with the package's message, an outage as a server
 * error. Each verification is one audit event; the SDK's middleware gives no request facts.
 */
export function createMcpTokenVerifier(settings: VerifierSettings): OAuthTokenVerifier {
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      const audit = new RequestAudit<string>(randomUUID(), (requestId): RequestFacts => ({
        method: 'POST',
        path: new URL(settings.resource).pathname,
        ip: undefined,
        requestId,
      }));
      audit.trail = settings.trail;
      audit.source = settings.source;
      let identity: Identity | undefined;
      try {
        identity = await verified(settings, token);
        const refusal = await settings.policy.serverRefusal(identity);
        if (refusal !== undefined) throw refusal;
      } catch (error) {
        const refusal = asIdentityError(error, 'Token verification failed.');
        await audit.record({ action: 'authenticate', identity, error: refusal, now: settings.now });
        throw refusal.status >= 500
          ? new ServerError(clientMessage(refusal))
          : new InvalidTokenError(clientMessage(refusal));
      }
      await audit.record({
        action: 'authenticate',
        identity,
        actor: identity.clientId,
        now: settings.now,
      });
      return authInfoOf(identity, settings.resource);
    },
  };
}

async function verified(settings: VerifierSettings, token: string): Promise<Identity> {
  const authorization = `Bearer ${token}`;
  const identity = await settings.authenticator.identify({
    authorization: [authorization],
    headers: { authorization },
    url: new URL(settings.resource).pathname,
    method: 'POST',
  });
  if (identity === undefined) {
    throw new IdentityError('credentials_missing', 'This MCP server needs a bearer token.');
  }
  checkSoleAudience(identity, settings.resource, settings.acceptOtherAudiences);
  return identity;
}
