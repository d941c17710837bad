import type { z } from 'zod';
import { lazySchema } from '../core/lazy-zod.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { DEFAULT_MINT_TTL_SEC } from '../tokens/session-options.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import type { CredentialStrategy } from './upstream.js';
import type { Upstream } from './upstream.js';

const mintSchema = lazySchema((z) =>
  z.strictObject({
    /** The package's token service (`createSessionTokens()`), which signs and publishes the JWKS. */
    tokens: objectWithMethods<SessionTokens>(
      ['mint', 'trustedIssuer'],
      'must be the object createSessionTokens() returns',
      ['issuer', 'audience'],
    ),
    /**
     * The agent acting for the user, named in the token's RFC 8693 `act` claim (required): the
     * upstream sees who the data is for (`sub`) and who is asking (`act.sub`).
     */
    agent: z.string().min(1).max(200),
    /** Default: 300 (5 minutes). Never longer than the user's own session. At most 3600. */
    ttlSec: z.number().int().min(10).max(3_600).optional(),
  }),
);

/** Options of {@link mintStrategy}. */
export type MintStrategyOptions = z.input<ReturnType<typeof mintSchema>>;

/**
 * `mint`: a short-lived token for exactly one upstream (its `aud`), with the user as subject and
 * the agent as actor, signed by this package and verifiable through its JWKS. It is how people
 * who signed in through a directory or SAML reach data APIs, and the safer choice for OAuth users
 * whose own tokens were not issued for the upstream: the user's credential never leaves.
 *
 * @example
 * ```ts
 * createPassthrough({ upstreams: { orders: {
 *   origin: 'https://orders.internal', audience: 'https://orders.internal',
 *   strategy: mintStrategy({ tokens: sessions, agent: 'ai-assistant' }),
 * } } });
 * ```
 */
export function mintStrategy(options: MintStrategyOptions): CredentialStrategy {
  const parsed = parseOptions(mintSchema(), options, 'mintStrategy');
  const ttlSec = parsed.ttlSec ?? DEFAULT_MINT_TTL_SEC;
  const { tokens, agent } = parsed;
  const check = (upstream: Upstream): void => {
    // A token minted with the application's own audience would be a session token in all but
    // name: whoever received it could call the assistant as the user.
    if (upstream.audience === tokens.audience) {
      throw new TypeError(
        `option "upstreams.${upstream.name}.audience": it equals the session tokens' audience ("${tokens.audience}"); give the upstream its own audience so minted tokens work only there`,
      );
    }
  };
  return Object.freeze({
    name: 'mint',
    check,
    async credentialFor(identity, upstream) {
      check(upstream);
      return tokens.mint(identity, { audience: upstream.audience, agent, ttlSec });
    },
  } satisfies CredentialStrategy);
}
