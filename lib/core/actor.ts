import { IdentityError } from './errors.js';
import type { Actor } from './identity.js';

// RFC 8693 allows actors of actors; a chain deeper than this is a crafted token, not a real
// delegation, and would only cost memory and log space.
const MAX_ACTOR_DEPTH = 5;

/**
 * Reads an RFC 8693 `act` claim (§4.1): the party acting for the subject, possibly itself
 * acting for another. The subject of the token stays the identity; the actor is recorded.
 */
export function parseActor(act: unknown, depth = 0): Actor | undefined {
  if (act === undefined) return undefined;
  if (depth >= MAX_ACTOR_DEPTH) {
    throw invalidAct(`the "act" claim nests deeper than ${MAX_ACTOR_DEPTH} levels`);
  }
  if (typeof act !== 'object' || act === null || Array.isArray(act)) {
    throw invalidAct('the "act" claim must be an object');
  }
  const claims = act as Record<string, unknown>;
  const subject = claims['sub'];
  if (typeof subject !== 'string' || subject.length === 0) {
    throw invalidAct('the "act" claim must name the acting party in "sub"');
  }
  const issuer = typeof claims['iss'] === 'string' ? claims['iss'] : undefined;
  const clientId = typeof claims['client_id'] === 'string' ? claims['client_id'] : undefined;
  const actor = parseActor(claims['act'], depth + 1);
  return Object.freeze({
    subject,
    ...(issuer === undefined ? {} : { issuer }),
    ...(clientId === undefined ? {} : { clientId }),
    ...(actor === undefined ? {} : { actor }),
  });
}

/** The actor chain as one line for audit trails: `agent-a via agent-b`. */
export function describeActor(actor: Actor | undefined): string | undefined {
  const names: string[] = [];
  for (let current = actor; current !== undefined; current = current.actor) {
    names.push(current.subject);
  }
  return names.length === 0 ? undefined : names.join(' via ');
}

function invalidAct(message: string): IdentityError {
  return new IdentityError(
    'token_claim_invalid',
    `The token's delegation claim is malformed: ${message}.`,
    {
      details: { claim: 'act' },
    },
  );
}
