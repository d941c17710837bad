import { IdentityError } from './errors.js';

/**
 * Runs a call to a store (sessions, IdP tokens, used assertions): a store that throws or rejects
 * is an outage, 503 `session_store_unavailable` with `message`, never a refusal of the user.
 */
export async function storeCall<T>(call: () => T | Promise<T>, message: string): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    throw new IdentityError('session_store_unavailable', message, { cause });
  }
}
