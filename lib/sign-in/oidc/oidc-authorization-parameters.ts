import { lazySchema } from '../../core/lazy-zod.js';

/**
 * Authorization request parameters the sign-in sets itself, and why none may be overridden:
 * each carries a protection or is owned by another option.
 */
const RESERVED: Readonly<Record<string, string>> = {
  state: 'it binds the callback to this browser (CSRF)',
  nonce: 'it binds the ID token to this sign-in (replay)',
  code_challenge: 'it is PKCE (a stolen code is useless without the verifier)',
  code_challenge_method: 'PKCE is always S256',
  code_verifier: 'PKCE keeps it on the server',
  redirect_uri: 'it is the option "redirect_uri"',
  response_type: 'the sign-in is the authorization code flow',
  response_mode: 'the callback reads the code from the query string',
  client_id: 'it is the option "client_id"',
  client_secret: 'a secret must never travel in the browser',
  scope: 'it is the option "scopes"',
  resource: 'it is the option "resource"',
  request: 'a request object would replace the checked parameters',
  request_uri: 'a request object would replace the checked parameters',
  id_token_hint: 'it identifies one user, not every sign-in',
};

/**
 * Extra parameters of the authorization request: `prompt`, `login_hint`, `domain_hint`,
 * `max_age`, `acr_values`, Auth0's `audience`, ... Parameters that carry a protection are
 * refused at startup (see {@link RESERVED}).
 */
export const authorizationParametersSchema = lazySchema((z) =>
  z
    .record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'is not an authorization parameter name'),
      z.string().max(2_048),
    )
    .superRefine((parameters, ctx) => {
      for (const name of Object.keys(parameters)) {
        const why = RESERVED[name.toLowerCase()];
        if (why !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `is set by the sign-in itself and cannot be overridden: ${why}`,
          });
        }
      }
      const maxAge = parameters['max_age'];
      if (maxAge !== undefined && !/^\d{1,9}$/.test(maxAge)) {
        ctx.addIssue({ code: 'custom', path: ['max_age'], message: 'must be a number of seconds' });
      }
    }),
);

/**
 * The extra parameters the authorization request carries. With `offline_access` requested from
 * a `generic` IdP, `prompt=consent` is added unless `prompt` is given: OpenID Connect Core §11
 * requires it, and a strict IdP (node-oidc-provider, for one) otherwise drops `offline_access`
 * and issues no refresh token, so the session would die at the first access-token expiry. Entra
 * ID, Okta, Auth0 and Keycloak issue refresh tokens for `offline_access` without it, and on Entra
 * ID `prompt=consent` would ask every user to consent again (or fail where users may not).
 */
export function authorizationParametersFor(options: {
  provider: string;
  scopes: readonly string[];
  parameters: Readonly<Record<string, string>> | undefined;
}): Readonly<Record<string, string>> {
  const parameters = { ...options.parameters };
  if (
    options.provider === 'generic' &&
    options.scopes.includes('offline_access') &&
    parameters['prompt'] === undefined
  ) {
    parameters['prompt'] = 'consent';
  }
  return Object.freeze(parameters);
}
