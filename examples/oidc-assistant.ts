// An AI backend whose users sign in with OpenID Connect (Entra ID, Okta, Keycloak, Auth0),
// configured like a data gateway's OAuth service. Their IdP tokens stay on the server (refreshed
// before they expire); the browser holds only a session cookie. The assistant then calls two
// APIs as the user:
// - API_ORIGIN accepts the user's own access token (its `aud` is API_AUDIENCE);
// - DATA_API_ORIGIN needs a token issued for DATA_API_AUDIENCE, which the assistant gets from the
//   IdP in exchange for the user's (RFC 8693; Entra ID's on-behalf-of grant).
//
// At the IdP: a confidential web client with redirect URI APP_URL/auth/oidc/callback, allowed to
// exchange tokens for DATA_API_AUDIENCE. Entra ID: expose an API on the app registration
// (API_AUDIENCE = its Application ID URI, e.g. api://<client id>: on-behalf-of needs the user's
// token to be for this app) and grant it a delegated permission on the data API. Okta, Keycloak,
// Auth0: issue access tokens with aud = API_AUDIENCE (authorization server / audience mapper /
// default audience).
//
//   OIDC_PROVIDER=entra ENTRA_TENANT_ID=<tenant id> \
//   OIDC_CLIENT_ID=<client id> OIDC_CLIENT_SECRET=<secret> APP_URL=https://assistant.company.com \
//   SESSION_KEY_FILE=session-es256.pem API_ORIGIN=https://api.company.com \
//   API_AUDIENCE=api://<client id> DATA_API_ORIGIN=https://data.company.com \
//   DATA_API_AUDIENCE=api://data-api npx tsx examples/oidc-assistant.ts
//
// Okta, Keycloak, Auth0 or another OIDC provider: OIDC_PROVIDER=okta|keycloak|auth0|generic and
// OIDC_ISSUER=<issuer URL> instead of ENTRA_TENANT_ID.
//
// On a development machine, APP_URL=http://127.0.0.1:3000 works too: the session cookie is then
// `eip-session` without Secure (a `__Host-` cookie must be Secure), for the sign-in routes and
// authenticate() alike, because both are given the same cookie setting.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import {
  authenticate,
  createPassthrough,
  createSessionTokens,
  getCurrentIdentity,
  identityErrorHandler,
  requireUser,
  type AuditSink,
  type SessionTokensOptions,
} from 'express-identity-passthrough';
import {
  createOidcSignIn,
  exchangeStrategy,
  oidcRoutes,
  oidcSessionStrategy,
  type ExchangeStrategyOptions,
  type OidcRoutesOptions,
  type OidcSignInOptions,
} from 'express-identity-passthrough/oidc';

export interface OidcAssistantOptions {
  /** `createOidcSignIn()` options, in the gateway's shape; `redirect_uri` names this app. */
  oidc: OidcSignInOptions;
  /** Default: `entra-obo` for Entra ID, `token-exchange` (RFC 8693) otherwise. */
  grant?: ExchangeStrategyOptions['grant'];
  /** This application's URL (the `iss` of its session tokens) and its signing keys. */
  sessions: Pick<SessionTokensOptions, 'issuer' | 'signingKeys'> &
    Partial<Pick<SessionTokensOptions, 'sessionTtlMin' | 'refreshTtlMin' | 'now'>>;
  /** An API the user's IdP access token is issued for. */
  api: { origin: string; audience: string };
  /** An API reached with a token exchanged for its audience. */
  dataApi: { origin: string; audience: string };
  /**
   * The session cookie, for the sign-in routes and authenticate() both. Default: Secure
   * (`__Host-eip-session`) unless `sessions.issuer` is plain http://127.0.0.1 or localhost.
   */
  cookie?: OidcRoutesOptions['cookie'];
  audit?: AuditSink;
}

export function createOidcAssistant(options: OidcAssistantOptions): Express {
  const audit = options.audit === undefined ? {} : { audit: options.audit };
  const oidc = createOidcSignIn(options.oidc);
  const sessions = createSessionTokens(options.sessions);
  const grant =
    options.grant ?? (options.oidc.provider === 'entra' ? 'entra-obo' : 'token-exchange');
  const passthrough = createPassthrough({
    upstreams: {
      api: {
        ...options.api,
        // The user's current IdP token, sent only where its audience says it may go.
        strategy: oidcSessionStrategy({ oidc, tokens: sessions }),
      },
      data: {
        ...options.dataApi,
        // A token the IdP issues for the data API, about the same user, naming this client.
        strategy: exchangeStrategy({ oidc, grant }),
      },
    },
    ...audit,
  });

  const appUrl = new URL(options.sessions.issuer);
  // One cookie setting for the routes that set the cookie and the middleware that reads it.
  const cookie = options.cookie ?? { secure: appUrl.protocol === 'https:' };

  const app = express();
  // GET /auth/oidc/login?returnTo=/ starts a sign-in; the IdP redirects to /auth/oidc/callback.
  app.use('/auth/oidc', oidcRoutes({ oidc, tokens: sessions, cookie, ...audit }));
  app.use(
    '/ai',
    authenticate({
      issuers: [sessions.trustedIssuer()],
      sessionCookie: { ...cookie, allowedOrigins: [appUrl.origin] },
      ...audit,
    }),
  );
  app.post('/ai/chat', express.json(), requireUser(), async (_req, res) => {
    const [meetings, orders] = await Promise.all([
      passthrough.fetch(`${options.api.origin}/me/meetings`).then(resources),
      passthrough.fetch(`${options.dataApi.origin}/api/v2/db/_table/orders`).then(resources),
    ]);
    res.json({
      user: getCurrentIdentity()?.username,
      answer: `You have ${meetings.length} meeting(s) and ${orders.length} order(s).`,
    });
  });
  app.use(identityErrorHandler());
  return app;
}

async function resources(response: Response): Promise<unknown[]> {
  return ((await response.json()) as { resource?: unknown[] }).resource ?? [];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const env = (name: string): string => {
    const value = process.env[name];
    if (value === undefined || value === '')
      throw new Error(`Set ${name} (see the header of this file)`);
    return value;
  };
  const provider = (process.env['OIDC_PROVIDER'] ?? 'entra') as OidcSignInOptions['provider'];
  const entra = provider === 'entra';
  const app = createOidcAssistant({
    oidc: {
      provider,
      ...(entra ? { tenant_id: env('ENTRA_TENANT_ID') } : { issuer: env('OIDC_ISSUER') }),
      client_id: env('OIDC_CLIENT_ID'),
      client_secret: env('OIDC_CLIENT_SECRET'),
      redirect_uri: `${env('APP_URL')}/auth/oidc/callback`,
      // Entra ID issues the access token for the resource the scopes name.
      scopes: [
        'openid',
        'profile',
        'email',
        'offline_access',
        ...(entra ? [`${env('API_AUDIENCE')}/.default`] : []),
      ],
    },
    sessions: {
      issuer: env('APP_URL'),
      signingKeys: [{ privateKey: readFileSync(env('SESSION_KEY_FILE'), 'utf8') }],
    },
    api: { origin: env('API_ORIGIN'), audience: env('API_AUDIENCE') },
    dataApi: { origin: env('DATA_API_ORIGIN'), audience: env('DATA_API_AUDIENCE') },
  });
  const port = Number(process.env['PORT'] ?? 3000);
  app.listen(port, '127.0.0.1', () => {
    console.log(`AI assistant on http://127.0.0.1:${port} (sign in at /auth/oidc/login)`);
  });
}
