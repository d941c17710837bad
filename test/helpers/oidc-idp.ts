// A real OpenID Connect provider (oidc-provider 9) on 127.0.0.1 for relying-party tests: the
// authorization code flow with PKCE, state, nonce and the RFC 9207 `iss` response parameter,
// rotating refresh tokens, client credentials, RFC 8693 token exchange, and RFC 8707 resource
// indicators for resource servers registered by the test (an MCP server). Sign-in is scripted
// through interaction routes of our own, so tests drive a genuine browser-style redirect chain
// (cookies, 303s, the provider's session) without a UI.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type JWTPayload,
} from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations (and @types/oidc-provider is not
// installed); the few members used here are typed by the Oidc* interfaces below.
import { Provider as UntypedProvider, errors as untypedErrors } from 'oidc-provider';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** The audience of access tokens for the assistant backend (the relying party's own API). */
export const API_AUDIENCE = 'https://assistant.example.test';
/** A downstream API reachable only with a token exchanged for this audience. */
export const DATA_AUDIENCE = 'https://data.example.test';
/** Scopes each resource server knows; requested scopes outside these are not put in its tokens. */
export const API_SCOPES = 'assistant:chat';
export const DATA_SCOPES = 'data:read data:write';
/** Granted on exchange when the caller asks for no scope: least privilege. */
const DEFAULT_DATA_SCOPE = 'data:read';

export interface OidcUser {
  sub: string;
  preferred_username: string | undefined;
  email: string;
  /** dave has none at all, as some IdPs send no `email_verified` claim. */
  email_verified?: boolean;
  name: string;
  /** carol has no `groups` claim at all (not an empty list), as directories often do. */
  groups?: string[];
}

export const OIDC_USERS = {
  alice: {
    sub: 'user-alice-7c1e',
    preferred_username: 'alice',
    email: 'alice@example.test',
    email_verified: true,
    name: 'Alice Archer',
    groups: ['Sales-Team', 'AI Users'],
  },
  bob: {
    sub: 'user-bob-42f0',
    preferred_username: 'bob',
    email: 'bob@example.test',
    email_verified: true,
    name: 'Bob Baker',
    groups: ['Support'],
  },
  carol: {
    sub: 'user-carol-9a3d',
    preferred_username: 'carol',
    email: 'carol@example.test',
    email_verified: false,
    name: 'Carol Chen',
  },
  /** Typed an address that is someone else's, with no `preferred_username` to fall back on. */
  mallory: {
    sub: 'user-mallory-5e6b',
    preferred_username: undefined,
    email: 'alice@example.test',
    email_verified: false,
    name: 'Mallory Moss',
  },
  dave: {
    sub: 'user-dave-1b7c',
    preferred_username: 'dave',
    email: 'dave@example.test',
    name: 'Dave Dunn',
  },
} as const satisfies Record<string, OidcUser>;

export type OidcUserName = keyof typeof OIDC_USERS;

/** A resource server the provider issues JWT access tokens for (RFC 8707 `resource`). */
export interface OidcResourceServer {
  /** Space-separated scopes it knows; requested scopes outside these stay out of its tokens. */
  scope: string;
  /** Lifetime of its access tokens. Default: the provider's `accessTokenTtlSec`. */
  ttlSec?: number;
}

export interface OidcIdpOptions {
  /** Access tokens (authorization code, refresh, client credentials). Default 300. */
  accessTokenTtlSec?: number;
  /** Refresh tokens; every refresh rotates them. Default 3600. */
  refreshTokenTtlSec?: number;
  /** Exchanged tokens, further capped at the subject token's remaining lifetime. Default 120. */
  exchangedTokenTtlSec?: number;
  /** Registered now; more can be added later with {@link OidcIdp.addRedirectUri}. */
  redirectUris?: string[];
  /**
   * `always` (default): every authorization code grant gets a refresh token. `spec`:
   * oidc-provider's own rule, as strict as OpenID Connect Core §11: only when `offline_access`
   * was granted, which the provider allows only with `prompt=consent`.
   */
  refreshTokens?: 'always' | 'spec';
  /**
   * Resource indicator (compared exactly, as oidc-provider does) → what it knows. A code,
   * refresh or client credentials request with `resource=<indicator>` gets a JWT whose `aud`
   * is the indicator. {@link API_AUDIENCE} is always known; more can be added later with
   * {@link OidcIdp.addResourceServer}.
   */
  resourceServers?: Record<string, OidcResourceServer>;
}

/**
 * A hostile token endpoint: the ID tokens it returns are re-signed after the provider issued
 * them, with the provider's own key (claims edited) or a key the JWKS does not hold.
 */
export interface IdTokenForgery {
  /** `foreign`: a key of the attacker's under the provider's `kid`. Default: the provider's. */
  key?: 'provider' | 'foreign';
  /** Edits the claims before signing. */
  claims?: (claims: JWTPayload) => JWTPayload;
}

export interface OidcTokenRequest {
  grantType: string;
  /** The OAuth error code when the provider refused the request. */
  error?: string;
  /** oidc-provider's internal reason, which invalid_grant responses do not disclose. */
  detail?: string;
}

export interface OidcIdp {
  /** `http://127.0.0.1:PORT`, no trailing slash: the value of `iss` everywhere. */
  issuer: string;
  port: number;
  jwksUri: string;
  clientId: string;
  clientSecret: string;
  apiAudience: typeof API_AUDIENCE;
  dataAudience: typeof DATA_AUDIENCE;
  users: typeof OIDC_USERS;
  /** The client's registered redirect URIs (exact match, as oidc-provider compares them). */
  readonly redirectUris: readonly string[];
  /** Registers a redirect URI; effective for the next authorization request. */
  addRedirectUri(uri: string): void;
  /** Resource indicators registered besides {@link API_AUDIENCE}. */
  readonly resourceServers: Readonly<Record<string, Readonly<OidcResourceServer>>>;
  /**
   * Registers (or replaces) a resource server; effective for the next request. For a server
   * whose URL is known only once it listens, such as an MCP server on port 0.
   */
  addResourceServer(indicator: string, resourceServer: OidcResourceServer): void;
  /**
   * Signs `user` in and consents, following the provider's redirects with a private cookie jar,
   * and returns the URL the provider finally redirects the browser to (the relying party's
   * redirect_uri with `code`, `state` and `iss`, or with `error`). The relying party is not called.
   * `deny: true` aborts the interaction instead, so the callback carries `error=access_denied`.
   */
  login(
    authorizationUrl: string | URL,
    user: OidcUserName,
    options?: { deny?: boolean },
  ): Promise<string>;
  /** Re-signs the ID tokens of the following token responses, until called with undefined. */
  forgeIdTokens(forgery: IdTokenForgery | undefined): void;
  /** Deletes every grant of `user` and its refresh tokens (JWT access tokens stay valid). */
  revokeGrants(user: OidcUserName): Promise<number>;
  /**
   * Token endpoint requests the provider handled, in order (not those the fixture itself refused
   * for not using client_secret_basic).
   */
  readonly tokenRequests: readonly OidcTokenRequest[];
  /** Closes the listener and every connection: clients get ECONNREFUSED until {@link up}. */
  down(): Promise<void>;
  /** Accepts connections but answers nothing until {@link up}: clients see their own timeout. */
  hang(): Promise<void>;
  /** Serves again on the same port (the issuer, keys, sessions and tokens are unchanged). */
  up(): Promise<void>;
  stop(): Promise<void>;
}

// ---- the slice of oidc-provider's API this fixture uses (the package has no types) ----

interface OidcClient {
  clientId: string;
}
interface OidcTokenModel {
  accountId?: string;
  scope?: string;
  expiresIn?: number;
  readonly expiration: number;
  resourceServer?: unknown;
  save(): Promise<string>;
}
interface OidcGrantModel {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
interface OidcInteraction {
  uid: string;
  prompt: {
    name: string;
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
  };
  params: Record<string, unknown> & { client_id: string };
  session?: { accountId: string };
  grantId?: string;
}
interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenFormat: 'jwt';
  accessTokenTTL: number;
  jwt: { sign: { alg: 'RS256' } };
}
interface OidcContext {
  oidc: {
    client: OidcClient;
    params: Record<string, string | string[] | undefined>;
    entity(name: string, value: unknown): void;
  };
  body: unknown;
}
interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: 'grant.success', listener: (ctx: OidcContext) => void): void;
  on(
    event: 'grant.error',
    listener: (ctx: OidcContext, error: { error?: string; error_detail?: string }) => void,
  ): void;
  on(event: 'server_error', listener: (ctx: unknown, error: Error) => void): void;
  registerGrantType(
    name: string,
    handler: (ctx: OidcContext) => Promise<void>,
    parameters: string[],
    allowedDuplicateParameters: string[],
  ): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<OidcInteraction>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: {
    new (init: { accountId: string; clientId: string }): OidcGrantModel;
    find(id: string): Promise<OidcGrantModel | undefined>;
  };
  AccessToken: new (init: {
    accountId: string;
    client: OidcClient;
    gty: string;
    scope: string;
  }) => OidcTokenModel;
  ResourceServer: new (identifier: string, info: ResourceServerInfo) => unknown;
}
type OidcErrorClass = new (description?: string) => Error;
const Provider = UntypedProvider as new (issuer: string, configuration: object) => OidcProvider;
const errors = untypedErrors as Record<
  'InvalidRequest' | 'InvalidTarget' | 'InvalidScope',
  OidcErrorClass
> & {
  CustomOIDCProviderError: new (error: string, description: string) => Error;
};
/**
 * oidc-provider's own InvalidGrant always answers "grant request is invalid" and keeps the reason
 * server-side; the exchange refusals say why, so relying-party tests can tell them apart.
 */
const invalidGrant = (description: string) =>
  new errors.CustomOIDCProviderError('invalid_grant', description);

// ---- storage ----

type Stored = Record<string, unknown> & { grantId?: string; uid?: string; accountId?: string };

/**
 * Per-provider storage. oidc-provider's default in-memory adapter is one LRU shared by every
 * provider in the process (and warns on each start); this one is private to the fixture, and it
 * also serves the client's metadata, so redirect URIs can be registered after start: a dynamic
 * client is re-read on every lookup, where a static one is frozen at its first use.
 */
function createAdapter(clientId: string, clientMetadata: () => Record<string, unknown>) {
  const records = new Map<string, Stored>();
  const factory = (model: string) => {
    const key = (id: string) => `${model}:${id}`;
    const ofModel = function* () {
      for (const [k, payload] of records)
        if (k.startsWith(`${model}:`)) yield [k, payload] as const;
    };
    // Expiry is left to the provider: every model it reads back is checked against its `exp`.
    return {
      upsert(id: string, payload: Stored) {
        records.set(key(id), payload);
        return Promise.resolve();
      },
      find(id: string) {
        if (model === 'Client')
          return Promise.resolve(id === clientId ? clientMetadata() : undefined);
        return Promise.resolve(records.get(key(id)));
      },
      findByUid(uid: string) {
        for (const [, payload] of ofModel())
          if (payload.uid === uid) return Promise.resolve(payload);
        return Promise.resolve(undefined);
      },
      findByUserCode() {
        return Promise.resolve(undefined);
      },
      consume(id: string) {
        const payload = records.get(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      },
      destroy(id: string) {
        records.delete(key(id));
        return Promise.resolve();
      },
      revokeByGrantId(grantId: string) {
        for (const [k, payload] of ofModel()) if (payload.grantId === grantId) records.delete(k);
        return Promise.resolve();
      },
    };
  };
  /** Deletes the user's grants and everything issued under them; returns the grant count. */
  const revokeAccount = (accountId: string): number => {
    const grantIds = new Set<string>();
    for (const [k, payload] of records) {
      if (k.startsWith('Grant:') && payload.accountId === accountId) {
        grantIds.add(k.slice('Grant:'.length));
        records.delete(k);
      }
    }
    for (const [k, payload] of records) {
      if (payload.grantId !== undefined && grantIds.has(payload.grantId)) records.delete(k);
    }
    return grantIds.size;
  };
  return { factory, revokeAccount };
}

// ---- the browser side of login() ----

/** Cookies of the provider's origin. Paths are ignored: names are unique per step anyway. */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attribute) => {
        const [attrName = '', attrValue = ''] = attribute.split('=').map((s) => s.trim());
        if (/^max-age$/i.test(attrName)) return Number(attrValue) <= 0;
        if (/^expires$/i.test(attrName)) return Date.parse(attrValue) <= Date.now();
        return false;
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const HOP_TIMEOUT_MS = 5_000;
/** Authorization, login, resume, consent, resume, callback: 6; the rest is headroom. */
const MAX_HOPS = 12;

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 4096) throw new Error('interaction form too large');
  }
  return new URLSearchParams(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function audiences(payload: JWTPayload): string[] {
  if (payload.aud === undefined) return [];
  return Array.isArray(payload.aud) ? payload.aud : [payload.aud];
}

export async function startOidcProvider(options: OidcIdpOptions = {}): Promise<OidcIdp> {
  const accessTokenTtlSec = options.accessTokenTtlSec ?? 300;
  const refreshTokenTtlSec = options.refreshTokenTtlSec ?? 3600;
  const refreshTokens = options.refreshTokens ?? 'always';
  const exchangedTokenTtlSec = options.exchangedTokenTtlSec ?? 120;

  // The issuer must carry the port, so the port is taken before the provider is built.
  let hanging = false;
  const held = new Set<ServerResponse>();
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => {
    if (hanging) {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk = {
    ...(await exportJWK(privateKey)),
    kid: randomUUID(),
    alg: 'RS256',
    use: 'sig',
  };
  const foreignKey = (await generateKeyPair('RS256')).privateKey;
  let forgery: IdTokenForgery | undefined;

  const clientId = 'assistant-web';
  const clientSecret = randomBytes(24).toString('base64url');
  const redirectUris: string[] = [];
  const addRedirectUri = (uri: string) => {
    // openid-client sends back the callback URL minus its query, as URL#href; oidc-provider
    // compares exactly, so the registered value must be in that same normalized form.
    const normalized = new URL(uri).href;
    if (normalized !== uri) throw new Error(`redirect URI must be normalized: use ${normalized}`);
    if (!redirectUris.includes(uri)) redirectUris.push(uri);
  };
  for (const uri of options.redirectUris ?? []) addRedirectUri(uri);

  const clientMetadata = () => ({
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [
      'authorization_code',
      'refresh_token',
      'client_credentials',
      TOKEN_EXCHANGE_GRANT,
    ],
    // Without a redirect URI the client still exists for client credentials and exchange; the
    // provider then drops authorization_code from its grant types by itself.
    response_types: redirectUris.length > 0 ? ['code'] : [],
    redirect_uris: [...redirectUris],
  });
  const storage = createAdapter(clientId, clientMetadata);

  const usersBySub = new Map<string, OidcUser>(
    Object.values(OIDC_USERS).map((user) => [user.sub, user]),
  );
  const userClaims = (user: OidcUser) => ({
    email: user.email,
    ...(user.email_verified === undefined ? {} : { email_verified: user.email_verified }),
    name: user.name,
    ...(user.preferred_username === undefined
      ? {}
      : { preferred_username: user.preferred_username }),
    ...(user.groups ? { groups: [...user.groups] } : {}),
  });

  const resourceServer = (audience: string, scope: string, ttl: number): ResourceServerInfo => ({
    scope,
    audience,
    // JWTs so that the relying party's API can verify them offline against /jwks.
    accessTokenFormat: 'jwt',
    accessTokenTTL: ttl,
    jwt: { sign: { alg: 'RS256' } },
  });
  const apiServer = resourceServer(API_AUDIENCE, API_SCOPES, accessTokenTtlSec);

  const resourceServers = new Map<string, Readonly<OidcResourceServer>>();
  const addResourceServer = (indicator: string, { scope, ttlSec }: OidcResourceServer) => {
    // RFC 8707 §2: an absolute URI without a fragment.
    if (URL.parse(indicator) === null || indicator.includes('#'))
      throw new TypeError(
        `resource indicator must be an absolute URI without fragment: ${indicator}`,
      );
    // The API is built in, and the data API must stay reachable only through token exchange.
    if (indicator === API_AUDIENCE || indicator === DATA_AUDIENCE)
      throw new TypeError(`${indicator} is built into the fixture`);
    if (typeof scope !== 'string' || scope.trim() === '')
      throw new TypeError('resource server scope must be a non-empty space-separated string');
    if (ttlSec !== undefined && !(Number.isInteger(ttlSec) && ttlSec > 0))
      throw new TypeError('resource server ttlSec must be a positive integer');
    resourceServers.set(
      indicator,
      Object.freeze({ scope, ...(ttlSec === undefined ? {} : { ttlSec }) }),
    );
  };
  for (const [indicator, info] of Object.entries(options.resourceServers ?? {}))
    addResourceServer(indicator, info);

  /** `act` for tokens minted by the exchange handler, read back by extraTokenClaims. */
  const actors = new WeakMap<object, Record<string, unknown>>();

  const provider = new Provider(issuer, {
    adapter: storage.factory,
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // v9 default (true) keeps scope-requested claims out of ID tokens whenever an access token
    // is also issued (they are then only at userinfo); relying parties here read the ID token.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a `resource` parameter the access token is for the assistant API, as a JWT;
        // otherwise oidc-provider issues an opaque token usable only at userinfo.
        defaultResource: () => API_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          // The data API is reachable only through token exchange, never directly.
          if (indicator === API_AUDIENCE) return apiServer;
          const registered = resourceServers.get(indicator);
          if (registered)
            return resourceServer(
              indicator,
              registered.scope,
              registered.ttlSec ?? accessTokenTtlSec,
            );
          throw new errors.InvalidTarget(`unknown resource indicator ${indicator}`);
        },
      },
    },
    // Confidential clients are not forced into PKCE by default; these tests want it required.
    pkce: { required: () => true },
    // `always`: refresh tokens without the offline_access + prompt=consent dance; `spec` keeps
    // oidc-provider's default rule. Either way they rotate on every use, and reuse of a rotated
    // one revokes the whole grant (oidc-provider's reuse detection).
    ...(refreshTokens === 'always'
      ? {
          issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
            client.grantTypeAllowed('refresh_token'),
        }
      : {}),
    rotateRefreshToken: true,
    // Tokens outlive the provider-side browser session (login() throws its cookies away).
    expiresWithSession: () => false,
    ttl: {
      AccessToken: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? accessTokenTtlSec,
      ClientCredentials: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? accessTokenTtlSec,
      AuthorizationCode: 60,
      IdToken: 600,
      RefreshToken: refreshTokenTtlSec,
      Interaction: 600,
      Session: 3600,
      Grant: 24 * 3600,
    },
    findAccount: (_ctx: unknown, sub: string) => {
      const user = usersBySub.get(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: () => ({ sub, ...userClaims(user) }) };
    },
    // User tokens carry the user's identity claims, as Entra, Okta and Keycloak access tokens
    // do, so the API (and the data API after exchange) can authorize on groups.
    extraTokenClaims: (_ctx: unknown, token: OidcTokenModel) => {
      const user = token.accountId === undefined ? undefined : usersBySub.get(token.accountId);
      if (!user) return undefined;
      const act = actors.get(token);
      return { ...userClaims(user), ...(act ? { act } : {}) };
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => false,
    // JSON instead of an HTML page, so a failed login() reports the provider's reason.
    renderError: (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  const tokenRequests: OidcTokenRequest[] = [];
  provider.on('grant.success', (ctx) => {
    tokenRequests.push({ grantType: String(ctx.oidc.params.grant_type) });
  });
  provider.on('grant.error', (ctx, error) => {
    tokenRequests.push({
      grantType: String(ctx.oidc.params.grant_type),
      error: error.error,
      ...(error.error_detail === undefined ? {} : { detail: error.error_detail }),
    });
  });
  provider.on('server_error', (_ctx, error) => {
    // A bug in this fixture would otherwise surface only as a bare 500 at the client.
    console.error('oidc-idp server_error', error);
  });

  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const { client, params } = ctx.oidc;
      const subjectToken = params.subject_token;
      if (typeof subjectToken !== 'string' || subjectToken === '')
        throw new errors.InvalidRequest("missing required parameter 'subject_token'");
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE)
        throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
      if (
        params.requested_token_type !== undefined &&
        params.requested_token_type !== ACCESS_TOKEN_TYPE
      )
        throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
      if (params.actor_token !== undefined)
        throw new errors.InvalidRequest('actor_token is not supported');

      const targets = new Set([...asList(params.resource), ...asList(params.audience)]);
      if (targets.size !== 1 || !targets.has(DATA_AUDIENCE))
        throw new errors.InvalidTarget(`resource or audience must be ${DATA_AUDIENCE}`);

      // Every access token this provider issues is a JWT (see resourceIndicators), so the
      // subject token is verified with the provider's own key rather than looked up.
      let subject: JWTPayload;
      try {
        ({ payload: subject } = await jwtVerify(subjectToken, publicKey, {
          issuer,
          typ: 'at+jwt',
          algorithms: ['RS256'],
        }));
      } catch {
        throw invalidGrant('subject_token is invalid or expired');
      }
      if (!audiences(subject).includes(API_AUDIENCE))
        throw invalidGrant(`subject_token was not issued for ${API_AUDIENCE}`);
      // A client credentials token names the client as its subject: there is no user to act for.
      if (subject.sub === undefined || subject.sub === subject.client_id)
        throw invalidGrant('subject_token represents a client, not a user');
      if (!usersBySub.has(subject.sub)) throw invalidGrant('subject_token user is unknown');

      const dataScopes = new Set(DATA_SCOPES.split(' '));
      const requested = typeof params.scope === 'string' ? params.scope.split(' ') : [];
      if (requested.some((scope) => !dataScopes.has(scope)))
        throw new errors.InvalidScope(`scope must be within "${DATA_SCOPES}"`);

      const token = new provider.AccessToken({
        accountId: subject.sub,
        client,
        gty: TOKEN_EXCHANGE_GRANT,
        scope: requested.length > 0 ? requested.join(' ') : DEFAULT_DATA_SCOPE,
      });
      token.resourceServer = new provider.ResourceServer(
        DATA_AUDIENCE,
        resourceServer(DATA_AUDIENCE, DATA_SCOPES, exchangedTokenTtlSec),
      );
      // A delegated token should not outlive the user's token it was derived from.
      const subjectRemaining = (subject.exp ?? 0) - Math.floor(Date.now() / 1000);
      token.expiresIn = Math.max(1, Math.min(exchangedTokenTtlSec, subjectRemaining));
      // RFC 8693 §4.1: the caller is the actor; an earlier delegation chain nests inside.
      actors.set(token, {
        sub: client.clientId,
        ...(subject.act && typeof subject.act === 'object' ? { act: subject.act } : {}),
      });
      ctx.oidc.entity('AccessToken', token);
      const accessToken = await token.save();
      ctx.body = {
        access_token: accessToken,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: token.expiration,
        scope: token.scope,
      };
    },
    [
      'subject_token',
      'subject_token_type',
      'requested_token_type',
      'actor_token',
      'actor_token_type',
      'resource',
      'audience',
      'scope',
    ],
    // RFC 8693 allows several resource and audience values; the handler refuses more than one.
    ['resource', 'audience'],
  );

  /**
   * The provider's interaction pages, as a login form would post them: GET describes the prompt;
   * POST …/login signs a user in, …/confirm grants what the consent prompt lists, …/abort denies.
   */
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(
      new URL(req.url ?? '/', issuer).pathname,
    );
    if (!match) {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    const [, uid, action] = match;
    const details = await provider.interactionDetails(req, res);
    const prompt = details.prompt.name;
    const accountId = details.session?.accountId;

    if (details.uid !== uid) {
      sendJson(res, 400, { error: 'interaction_mismatch' });
    } else if (action === undefined && req.method === 'GET') {
      sendJson(res, 200, { uid, prompt, details: details.prompt.details });
    } else if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'method_not_allowed' });
    } else if (action === 'abort') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
    } else if (action === 'login' && prompt === 'login') {
      const name = (await readForm(req)).get('login') ?? '';
      const user = Object.hasOwn(OIDC_USERS, name) ? OIDC_USERS[name as OidcUserName] : undefined;
      if (!user) sendJson(res, 401, { error: 'unknown_user', user: name });
      else
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: user.sub } },
          { mergeWithLastSubmission: false },
        );
    } else if (action === 'confirm' && prompt === 'consent' && accountId !== undefined) {
      const grant =
        (details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId)) ??
        new provider.Grant({ accountId, clientId: details.params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {}))
        grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } });
    } else {
      sendJson(res, 400, { error: 'unexpected_action', prompt, action });
    }
  }

  const providerCallback = provider.callback();
  handle = (req, res) => {
    // oidc-provider accepts client_secret_post from a client registered for client_secret_basic
    // (it treats the two as one family); the fixture holds the client to its registration so a
    // relying party misconfigured for post fails here as it would at a strict IdP.
    const path = new URL(req.url ?? '/', issuer).pathname;
    if (
      req.method === 'POST' &&
      (path === '/token' || path === '/token/revocation') &&
      !/^basic /i.test(req.headers.authorization ?? '')
    ) {
      sendJson(res, 401, {
        error: 'invalid_client',
        error_description: 'client authentication must use client_secret_basic',
      });
      return;
    }
    if (forgery !== undefined && req.method === 'POST' && path === '/token') {
      forgeResponse(res, forgery);
    }
    if (path.startsWith('/interaction/')) {
      interaction(req, res).catch((error: unknown) => {
        // SessionNotFound and friends: the interaction cookie is missing or stale.
        if (!res.headersSent) sendJson(res, 400, { error: String(error) });
      });
      return;
    }
    providerCallback(req, res);
  };

  /**
   * Rewrites the token response's ID token on its way out. oidc-provider (Koa) sets the body's
   * Content-Length and then calls `res.end(body)` once, so the replacement happens there.
   */
  function forgeResponse(res: ServerResponse, how: IdTokenForgery): void {
    const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
    res.end = ((chunk?: unknown) => {
      void (async () => {
        let body = chunk;
        try {
          const json = JSON.parse(String(chunk)) as Record<string, unknown>;
          if (typeof json['id_token'] === 'string') {
            const header = decodeProtectedHeader(json['id_token']);
            const claims = decodeJwt(json['id_token']);
            json['id_token'] = await new SignJWT(how.claims ? how.claims({ ...claims }) : claims)
              .setProtectedHeader({ alg: 'RS256', ...(header.kid ? { kid: header.kid } : {}) })
              .sign(how.key === 'foreign' ? foreignKey : privateKey);
            body = JSON.stringify(json);
            res.setHeader('content-length', Buffer.byteLength(String(body)));
          }
        } catch {
          // Not JSON (an error page): sent as it is.
        }
        end(body);
      })();
      return res;
    }) as typeof res.end;
  }

  async function login(
    authorizationUrl: string | URL,
    user: OidcUserName,
    { deny = false }: { deny?: boolean } = {},
  ): Promise<string> {
    const jar = new CookieJar();
    const go = async (url: URL, init: RequestInit = {}) => {
      const response = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
        signal: AbortSignal.timeout(HOP_TIMEOUT_MS),
      });
      jar.store(response);
      return response;
    };
    const fail = async (response: Response, url: URL): Promise<never> => {
      const body = (await response.text()).slice(0, 500);
      throw new Error(`login: ${response.status} at ${url.pathname}: ${body}`);
    };

    let url = new URL(authorizationUrl);
    for (let hop = 0; hop < MAX_HOPS; hop += 1) {
      // Leaving the provider's origin means the provider sent the browser back to the client.
      if (url.origin !== issuer) return url.href;
      const response = await go(url);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        url = new URL(location, url);
        continue;
      }
      const page = /^\/interaction\/([\w-]+)$/.exec(url.pathname);
      if (response.status !== 200 || !page) return fail(response, url);
      const { prompt } = (await response.json()) as { prompt: string };
      const action = deny
        ? 'abort'
        : prompt === 'login'
          ? 'login'
          : prompt === 'consent'
            ? 'confirm'
            : undefined;
      if (action === undefined) throw new Error(`login: unexpected prompt ${prompt}`);
      const submitUrl = new URL(`/interaction/${page[1]}/${action}`, issuer);
      const submitted = await go(submitUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: user }).toString(),
      });
      const next = submitted.headers.get('location');
      if (submitted.status !== 303 || next === null) return fail(submitted, submitUrl);
      url = new URL(next, submitUrl);
    }
    throw new Error(`login: more than ${MAX_HOPS} redirects`);
  }

  const closeListener = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      server.closeAllConnections();
    });
  const release = () => {
    hanging = false;
    for (const res of held) res.socket?.destroy();
    held.clear();
  };

  async function down(): Promise<void> {
    release();
    await closeListener();
    // Let in-process clients see their pooled keep-alive sockets close, so the next request
    // tries a fresh connection (ECONNREFUSED) rather than a dead socket ("other side closed").
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  async function up(): Promise<void> {
    release();
    if (server.listening) return;
    // The port was ours a moment ago; another process taking it meanwhile is possible but rare,
    // so a short bounded retry covers it before giving up.
    const deadline = Date.now() + 2_000;
    for (;;) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  return {
    issuer,
    port,
    jwksUri: `${issuer}/jwks`,
    clientId,
    clientSecret,
    apiAudience: API_AUDIENCE,
    dataAudience: DATA_AUDIENCE,
    users: OIDC_USERS,
    get redirectUris() {
      return [...redirectUris];
    },
    addRedirectUri,
    get resourceServers() {
      return Object.fromEntries(resourceServers);
    },
    addResourceServer,
    login,
    forgeIdTokens(next) {
      forgery = next;
    },
    revokeGrants: (user) => Promise.resolve(storage.revokeAccount(OIDC_USERS[user].sub)),
    get tokenRequests() {
      return [...tokenRequests];
    },
    down,
    async hang() {
      if (!server.listening) await up();
      hanging = true;
    },
    up,
    async stop() {
      release();
      await closeListener();
    },
  };
}
