import type { Identity } from '../core/identity.js';

// The two shapes an upstream call is planned with. They refer to each other (an upstream names
// its strategy, a strategy is asked for one upstream), so they live together rather than in two
// files that import each other.

/** One configured data API, as the passthrough calls it (compiled from its options). */
export interface Upstream {
  readonly name: string;
  readonly origin: string;
  readonly audience: string;
  readonly credentialHeader: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly strategy: CredentialStrategy | undefined;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxRedirects: number;
  readonly dangerouslySkipAudienceCheck: boolean;
}

/**
 * How the passthrough client obtains the credential it sends to an upstream for a user. The
 * strategy returns the raw token; the client puts it in the upstream's credential header.
 * Strategies must refuse (throw an `IdentityError`) rather than fall back to any other account.
 */
export interface CredentialStrategy {
  readonly name: string;
  /** Called once per upstream when the client is created: throw a `TypeError` to refuse it. */
  check?(upstream: Upstream): void;
  /** `signal` aborts with the call (its timeout, or the caller's cancel). */
  credentialFor(
    identity: Identity,
    upstream: Upstream,
    nowMs: number,
    signal?: AbortSignal,
  ): Promise<string>;
}
