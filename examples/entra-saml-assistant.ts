// An AI backend whose users sign in with Entra ID over SAML. They get a session cookie, and every
// data call the assistant makes carries a token minted for that data API, naming them as the
// subject and the assistant as the actor (SAML gives no bearer token to forward).
//
// In Entra ID, create an enterprise application (non-gallery) with SAML single sign-on:
//   Identifier (Entity ID)   APP_URL/auth/saml/metadata
//   Reply URL (ACS URL)      APP_URL/auth/saml/acs
//   Attributes & Claims      the default ones, plus a group claim (security groups, as group IDs)
//   SAML Certificates        download "Certificate (Base64)" to ENTRA_SAML_CERT_FILE
// Members of the group ENTRA_ASSISTANT_GROUP (its object ID) may use the assistant.
//
//   ENTRA_TENANT_ID=<tenant id> ENTRA_SAML_CERT_FILE=entra-saml.cer \
//   ENTRA_ASSISTANT_GROUP=<group object id> APP_URL=https://assistant.company.com \
//   SESSION_KEY_FILE=session-es256.pem DATA_API_ORIGIN=https://data.company.com \
//   npx tsx examples/entra-saml-assistant.ts
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
  type AuditSink,
  type SessionTokensOptions,
} from 'express-identity-passthrough';
import { createSamlSignIn, samlRoutes } from 'express-identity-passthrough/saml';

export interface EntraSamlAssistantOptions {
  /**
   * This application's public URL: the SAML entity ID and ACS URL derive from it, it issues the
   * session tokens, and it is the only Origin allowed to use the session cookie.
   */
  appUrl: string;
  entra: {
    tenantId: string;
    /** The enterprise application's SAML signing certificate, PEM. */
    certificate: string;
    /** The group (object ID, or name if the app sends names) whose members may use the assistant. */
    assistantGroup: string;
  };
  /** The signing keys of the session tokens (and of the tokens minted for the data API). */
  sessions: Pick<SessionTokensOptions, 'signingKeys'> &
    Partial<Pick<SessionTokensOptions, 'sessionTtlMin' | 'refreshTtlMin' | 'now'>>;
  /** The data API, which trusts this application's JWKS for tokens with its audience. */
  dataApi: { origin: string; audience: string };
  audit?: AuditSink;
}

export function createEntraSamlAssistant(options: EntraSamlAssistantOptions): Express {
  const audit = options.audit === undefined ? {} : { audit: options.audit };
  const appOrigin = new URL(options.appUrl).origin;
  const { tenantId } = options.entra;
  const saml = createSamlSignIn({
    entityId: `${appOrigin}/auth/saml/metadata`,
    acsUrl: `${appOrigin}/auth/saml/acs`,
    idp: {
      entityId: `https://sts.windows.net/${tenantId}/`,
      ssoUrl: `https://login.microsoftonline.com/${tenantId}/saml2`,
      certificates: [options.entra.certificate],
    },
    preset: 'entra',
    mapping: { role_mapping: { [options.entra.assistantGroup]: 'assistant_user' } },
  });
  const sessions = createSessionTokens({ ...options.sessions, issuer: appOrigin });
  const passthrough = createPassthrough({
    upstreams: {
      data: {
        origin: options.dataApi.origin,
        audience: options.dataApi.audience,
        strategy: mintStrategy({ tokens: sessions, agent: 'ai-assistant' }),
      },
    },
    ...audit,
  });

  const app = express();
  app.get('/.well-known/jwks.json', jwksRoute(sessions));
  // GET /auth/saml/login?returnTo=/ starts a sign-in; Entra posts the answer to /auth/saml/acs.
  app.use('/auth/saml', samlRoutes({ saml, tokens: sessions, ...audit }));
  app.use(
    '/ai',
    authenticate({
      issuers: [sessions.trustedIssuer()],
      // Cookie sessions: unsafe requests must come from the application's own pages.
      sessionCookie: { allowedOrigins: [appOrigin] },
      ...audit,
    }),
  );
  app.post(
    '/ai/chat',
    express.json(),
    requireUser({ roles: ['assistant_user'] }),
    async (_req, res) => {
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
  const app = createEntraSamlAssistant({
    appUrl: env('APP_URL'),
    entra: {
      tenantId: env('ENTRA_TENANT_ID'),
      certificate: readFileSync(env('ENTRA_SAML_CERT_FILE'), 'utf8'),
      assistantGroup: env('ENTRA_ASSISTANT_GROUP'),
    },
    sessions: { signingKeys: [{ privateKey: readFileSync(env('SESSION_KEY_FILE'), 'utf8') }] },
    dataApi: { origin: env('DATA_API_ORIGIN'), audience: env('DATA_API_ORIGIN') },
  });
  const port = Number(process.env['PORT'] ?? 3000);
  app.listen(port, '127.0.0.1', () => {
    console.log(`AI assistant on http://127.0.0.1:${port} (sign in at /auth/saml/login)`);
  });
}
