// An AI backend for people who live in Active Directory: they sign in with their Windows
// password, get a session token, and every data call the assistant makes carries a token minted
// for that data API, naming them as the subject and the assistant as the actor.
//
//   LDAP_HOST=dc1.company.com LDAP_BASE_DN=DC=company,DC=com LDAP_ACCOUNT_SUFFIX=@company.com \
//   LDAP_CA_FILE=company-ca.pem APP_URL=https://assistant.company.com \
//   SESSION_KEY_FILE=session-es256.pem DATA_API_ORIGIN=https://data.company.com \
//   npx tsx examples/ad-assistant.ts
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import {
  authenticate,
  createPassthrough,
  createSessionTokens,
  getCurrentIdentity,
  identityErrorHandler,
  jwksRoute,
  mintStrategy,
  requireUser,
  sessionRoutes,
  type AuditSink,
  type SessionTokensOptions,
} from 'express-identity-passthrough';
import {
  createLdapAuthenticator,
  type LdapAuthenticatorOptions,
} from 'express-identity-passthrough/ldap';

export interface AdAssistantOptions {
  /** The directory: `createLdapAuthenticator()` options. */
  directory: LdapAuthenticatorOptions;
  /** This application's URL (the `iss` of its tokens) and its signing keys. */
  sessions: Pick<SessionTokensOptions, 'issuer' | 'signingKeys'> &
    Partial<Pick<SessionTokensOptions, 'sessionTtlMin' | 'refreshTtlMin' | 'now'>>;
  /** The data API, which trusts this application's JWKS for tokens with its audience. */
  dataApi: { origin: string; audience: string };
  audit?: AuditSink;
}

export function createAdAssistant(options: AdAssistantOptions): Express {
  const audit = options.audit === undefined ? {} : { audit: options.audit };
  const directory = createLdapAuthenticator(options.directory);
  const sessions = createSessionTokens(options.sessions);
  const passthrough = createPassthrough({
    upstreams: {
      data: {
        origin: options.dataApi.origin,
        audience: options.dataApi.audience,
        // Directory users have no IdP token to forward: a five-minute token is minted per call.
        strategy: mintStrategy({ tokens: sessions, agent: 'ai-assistant' }),
      },
    },
    ...audit,
  });

  const app = express();
  app.get('/.well-known/jwks.json', jwksRoute(sessions));
  app.use('/auth', sessionRoutes({ tokens: sessions, passwordSignIn: directory, ...audit }));
  app.use('/ai', authenticate({ issuers: [sessions.trustedIssuer()], ...audit }));
  app.post(
    '/ai/chat',
    express.json(),
    requireUser({ roles: ['assistant_user'] }),
    async (_req, res) => {
      // The agent's tool: no token handling in sight; the passthrough knows whom it acts for.
      const response = await passthrough.fetch(`${options.dataApi.origin}/api/v2/db/_table/orders`);
      const rows = ((await response.json()) as { resource?: unknown[] }).resource ?? [];
      res.json({
        user: getCurrentIdentity()?.username,
        answer: `You have ${rows.length} order(s).`,
        rows,
      });
    },
  );
  app.use(identityErrorHandler());
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const env = (name: string): string => {
    const value = process.env[name];
    if (value === undefined || value === '')
      throw new Error(`Set ${name} (see the header of this file)`);
    return value;
  };
  const app = createAdAssistant({
    directory: {
      type: 'active-directory',
      host: env('LDAP_HOST'),
      baseDn: env('LDAP_BASE_DN'),
      accountSuffix: env('LDAP_ACCOUNT_SUFFIX'),
      ca: readFileSync(env('LDAP_CA_FILE')),
      mapping: { role_mapping: { 'AI Users': 'assistant_user' } },
      serviceAccounts: { ous: [`OU=Service Accounts,${env('LDAP_BASE_DN')}`] },
    },
    sessions: {
      issuer: env('APP_URL'),
      signingKeys: [{ privateKey: readFileSync(env('SESSION_KEY_FILE'), 'utf8') }],
    },
    dataApi: { origin: env('DATA_API_ORIGIN'), audience: env('DATA_API_ORIGIN') },
  });
  const port = Number(process.env['PORT'] ?? 3000);
  app.listen(port, '127.0.0.1', () => {
    console.log(`AI assistant on http://127.0.0.1:${port} (POST /auth/session to sign in)`);
  });
}
