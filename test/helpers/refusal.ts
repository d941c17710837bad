import { isIdentityError, type IdentityError } from '../../lib/index.js';

/** The IdentityError a promise rejects with; fails the test when it resolves or throws another. */
export async function refusal(promise: Promise<unknown>): Promise<IdentityError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isIdentityError(error)) throw new Error(`expected an IdentityError, got ${String(error)}`);
  return error;
}
