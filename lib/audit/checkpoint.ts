import { calculateJwkThumbprint, CompactSign, compactVerify, exportJWK } from 'jose';
import type { CheckpointKey } from './checkpoint-key.js';
import type { ChainHead } from './line-chain.js';
import { ECS_AUDIT_DATASET } from './to-ecs.js';

/** The `typ` of a checkpoint's JWS header: a checkpoint cannot pass for another JWS. */
export const CHECKPOINT_TYPE = 'audit-checkpoint';

/** What a checkpoint signs: line `seq` of the chain had this hash at this time. */
export interface CheckpointClaims {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  /**
   * The writer's `checkpointEvery`: how many events it leaves unsigned at most (and so how
   * many a verifier accepts after the last checkpoint). Absent in older checkpoints.
   */
  readonly every?: number;
}

/** The field names the audit lines use: the package's own, ECS, or both. */
export type AuditFields = 'gateway' | 'ecs' | 'both';

/** The key's RFC 7638 thumbprint: the `kid` that tells a verifier which key signed. */
export async function keyId(key: CheckpointKey['key']): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key));
}

/** A compact JWS over the chain's head, with the private key the operator holds. */
export async function signCheckpoint(
  head: ChainHead & { readonly hash: string },
  signer: CheckpointKey & { readonly kid: string },
  time: string,
  every: number,
): Promise<string> {
  const claims: CheckpointClaims = { seq: head.seq, hash: head.hash, time, every };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: signer.algorithm, typ: CHECKPOINT_TYPE, kid: signer.kid })
    .sign(signer.key);
}

/**
 * The checkpoint's line (before its chain field), in the same field names as the events, so
 * that a pipeline indexes it beside them; `checkpoint` holds the JWS.
 */
export function checkpointLine(jws: string, time: string, fields: AuditFields): string {
  const gateway = { timestamp: time, level: 'info', message: 'audit checkpoint' };
  const ecs = {
    '@timestamp': time,
    'log.level': 'info',
    message: 'audit checkpoint',
    event: { kind: 'event', action: 'audit_checkpoint', dataset: ECS_AUDIT_DATASET },
  };
  const line =
    fields === 'gateway'
      ? { ...gateway, action: 'audit_checkpoint' }
      : fields === 'ecs'
        ? ecs
        : { ...gateway, action: 'audit_checkpoint', ...ecs };
  return JSON.stringify({ ...line, checkpoint: jws });
}

/** A verification key with its thumbprint. */
export interface VerificationKey extends CheckpointKey {
  readonly kid: string;
}

/** The claims of a checkpoint whose signature verifies, or why it does not. */
export type CheckpointCheck =
  | { readonly ok: true; readonly claims: CheckpointClaims }
  | { readonly ok: false; readonly reason: string };

/**
 * Verifies a checkpoint's JWS with the keys given (the one its `kid` names first). The reason
 * of a failure names the kid the checkpoint claims, so that a wrong `--key` is told apart from
 * a forgery, and never contains the signature.
 */
export async function verifyCheckpoint(
  jws: unknown,
  keys: readonly VerificationKey[],
): Promise<CheckpointCheck> {
  if (typeof jws !== 'string') return { ok: false, reason: 'the checkpoint is not a JWS' };
  const kid = claimedKid(jws);
  const ordered = [...keys].sort((a, b) => Number(b.kid === kid) - Number(a.kid === kid));
  for (const key of ordered) {
    try {
      const { payload, protectedHeader } = await compactVerify(jws, key.key, {
        algorithms: [key.algorithm],
      });
      if (protectedHeader.typ !== CHECKPOINT_TYPE) {
        return {
          ok: false,
          reason: `the JWS is not a checkpoint (typ ${String(protectedHeader.typ)})`,
        };
      }
      const claims = claimsOf(new TextDecoder().decode(payload));
      if (claims === undefined) return { ok: false, reason: 'the signed checkpoint is malformed' };
      return { ok: true, claims };
    } catch {
      // Tried with the next key; the reason is given once all have failed.
    }
  }
  const known = keys.some((key) => key.kid === kid);
  return {
    ok: false,
    reason:
      kid === undefined || known
        ? 'its signature does not verify with the public key given'
        : `it names key ${JSON.stringify(kid)}, which is not the key given (${keys.map((key) => key.kid).join(', ')}); with the right key, check again; otherwise it is forged`,
  };
}

function claimedKid(jws: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString()) as {
      kid?: unknown;
    };
    // Shown to the operator: only what a thumbprint can be, never terminal escapes.
    return typeof header.kid === 'string' && /^[\w-]{1,100}$/.test(header.kid)
      ? header.kid
      : undefined;
  } catch {
    return undefined;
  }
}

function claimsOf(text: string): CheckpointClaims | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<keyof CheckpointClaims, unknown>>;
    if (
      Number.isSafeInteger(value.seq) &&
      typeof value.hash === 'string' &&
      typeof value.time === 'string'
    ) {
      const { every } = value;
      return {
        seq: value.seq as number,
        hash: value.hash,
        time: value.time,
        ...(Number.isSafeInteger(every) && (every as number) > 0 ? { every: every as number } : {}),
      };
    }
  } catch {
    // not JSON: malformed
  }
  return undefined;
}
