// The official MCP SDK client for tests, authorized as a real MCP client is: the SDK's own OAuth
// flow (401 → RFC 9728 protected resource metadata → authorization server metadata → code +
// PKCE with an RFC 8707 `resource` → token), against the oidc-provider fixture, with the
// "browser" step scripted by `idp.login()`. Lower-level helpers give raw tokens and raw
// JSON-RPC POSTs for tests that probe the server's refusals.
import { createHash, randomBytes } from 'node:crypto';
import {
  UnauthorizedError,
  type OAuthClientProvider,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  OAuthMetadataSchema,
  OAuthTokensSchema,
  type OAuthClientInformationFull,
  type OAuthClientMetadata,
  type OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { OidcIdp, OidcUserName } from './oidc-idp.js';

/**
 * The loopback callback the client registers (RFC 8252 §7.3). Nothing listens there and nothing
 * needs to: `idp.login()` stops at the redirect back to it and hands over the URL.
 */
export const MCP_CLIENT_REDIRECT_URI = 'http://127.0.0.1/mcp-client/callback';
/** The MCP `clientInfo.name` and OAuth `client_name` by default. */
export const DEFAULT_MCP_CLIENT_NAME = 'mcp-client-fixture';

const REQUEST_TIMEOUT_MS = 5_000;

/** An OAuth error the fixture IdP answered, from the authorization callback or the token endpoint. */
export class OAuthResponseError extends Error {
  override readonly name = 'OAuthResponseError';

  constructor(
    /** The OAuth `error` code, e.g. `invalid_target`. */
    readonly error: string,
    readonly description: string | undefined,
    /** The token endpoint's HTTP status; undefined for an error sent back to the callback. */
    readonly status: number | undefined,
  ) {
    super(description === undefined ? error : `${error}: ${description}`);
  }
}

/**
 * Checks the authorization response as a careful client does and returns its code: the
 * callback is ours, `state` is the one we sent (CSRF), and `iss` names the IdP (RFC 9207,
 * against mix-up: the fixture advertises `authorization_response_iss_parameter_supported`).
 */
function codeFromCallback(callbackUrl: string, idp: OidcIdp, state: string): string {
  const callback = new URL(callbackUrl);
  const params = callback.searchParams;
  if (callback.origin + callback.pathname !== MCP_CLIENT_REDIRECT_URI)
    throw new Error(`login ended at ${callback.origin + callback.pathname}, not the callback`);
  const error = params.get('error');
  if (error !== null)
    throw new OAuthResponseError(error, params.get('error_description') ?? undefined, undefined);
  if (params.get('state') !== state) throw new Error('authorization response: state mismatch');
  if (params.get('iss') !== idp.issuer) throw new Error('authorization response: iss mismatch');
  const code = params.get('code');
  if (code === null) throw new Error('authorization response: no code');
  return code;
}

const randomToken = () => randomBytes(32).toString('base64url');

/**
 * The SDK's {@link OAuthClientProvider} for the fixture's pre-registered confidential client:
 * it never registers dynamically, authenticates with client_secret_basic (the only method the
 * fixture accepts), and "redirects the browser" by running `idp.login()` for one user.
 */
export class FixtureOAuthClientProvider implements OAuthClientProvider {
  readonly redirectUrl = MCP_CLIENT_REDIRECT_URI;
  readonly clientMetadata: OAuthClientMetadata;
  readonly #idp: OidcIdp;
  readonly #user: OidcUserName;
  #tokens: OAuthTokens | undefined;
  #codeVerifier: string | undefined;
  #state: string | undefined;
  #authorizationUrl: URL | undefined;
  #authorizationCode: string | undefined;

  /** Registers {@link MCP_CLIENT_REDIRECT_URI} with `idp`. */
  constructor(idp: OidcIdp, user: OidcUserName, options: { scope?: string; clientName?: string }) {
    this.#idp = idp;
    this.#user = user;
    idp.addRedirectUri(MCP_CLIENT_REDIRECT_URI);
    this.clientMetadata = Object.freeze({
      client_name: options.clientName ?? DEFAULT_MCP_CLIENT_NAME,
      redirect_uris: [MCP_CLIENT_REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...(options.scope === undefined ? {} : { scope: options.scope }),
    });
  }

  /** The authorization request the SDK built last, as sent to `idp.login()`. */
  get authorizationUrl(): URL | undefined {
    return this.#authorizationUrl;
  }

  /** The code from the last authorization response, for `transport.finishAuth()`. */
  get authorizationCode(): string | undefined {
    return this.#authorizationCode;
  }

  state(): string {
    this.#state = randomToken();
    return this.#state;
  }

  clientInformation(): OAuthClientInformationFull {
    // `issuer` binds the pre-registered credentials to this IdP: the SDK then refuses to
    // present them to any other authorization server a resource server might name.
    return {
      ...this.clientMetadata,
      client_id: this.#idp.clientId,
      client_secret: this.#idp.clientSecret,
      issuer: this.#idp.issuer,
    };
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.#authorizationUrl = authorizationUrl;
    this.#authorizationCode = undefined;
    const callback = await this.#idp.login(authorizationUrl, this.#user);
    this.#authorizationCode = codeFromCallback(callback, this.#idp, this.#state ?? '');
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#codeVerifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.#codeVerifier === undefined) throw new Error('no PKCE code verifier saved');
    return this.#codeVerifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    // The client is pre-registered and discovery is not cached: nothing else to forget.
    if (scope === 'all' || scope === 'tokens') this.#tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this.#codeVerifier = undefined;
  }
}

export interface ConnectMcpClientOptions {
  /** The MCP endpoint, e.g. `http://127.0.0.1:PORT/mcp`. */
  url: string | URL;
  idp: OidcIdp;
  user: OidcUserName;
  /**
   * The client's configured scope. The SDK uses it only as a last resort (SEP-835): the 401
   * challenge's `scope`, then the protected resource metadata's `scopes_supported`, win.
   */
  scope?: string;
  /** Default: {@link DEFAULT_MCP_CLIENT_NAME}. */
  clientName?: string;
}

export interface McpClientConnection {
  client: Client;
  /** The transport in use: the second one when the first connect had to authorize. */
  transport: StreamableHTTPClientTransport;
  /** The authorization request the SDK built; undefined if the server asked for none. */
  authorizationUrl: URL | undefined;
  /** What the SDK stored last (it stamps `issuer`, the authorization server used). */
  tokens(): OAuthTokens | undefined;
  /** Ends the MCP session if there is one (best effort) and closes the client. */
  close(): Promise<void>;
}

/**
 * Connects the SDK's `Client` to an MCP server protected by the fixture IdP, as the SDK's own
 * OAuth example does: the first `connect()` meets a 401, the SDK discovers and redirects
 * (`user` signs in and consents through `idp.login()`) and throws `UnauthorizedError`; then
 * `transport.finishAuth(code)` redeems the code and a new transport connects with the token.
 *
 * @example
 * const mcp = await connectMcpClient({ url: mcpUrl, idp, user: 'alice' });
 * const result = await mcp.client.callTool({ name: 'whoami' });
 * await mcp.close();
 */
export async function connectMcpClient(
  options: ConnectMcpClientOptions,
): Promise<McpClientConnection> {
  const { url, idp, user, scope, clientName = DEFAULT_MCP_CLIENT_NAME } = options;
  const provider = new FixtureOAuthClientProvider(idp, user, { scope, clientName });
  const client = new Client({ name: clientName, version: '1.0.0' });
  const connection = (transport: StreamableHTTPClientTransport): McpClientConnection => ({
    client,
    transport,
    authorizationUrl: provider.authorizationUrl,
    tokens: () => provider.tokens(),
    async close() {
      // The server may be gone already; the client must be released all the same.
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  });

  // A failed connect() leaves its transport attached until close(), and the next needs it gone.
  const attempt = (transport: StreamableHTTPClientTransport) =>
    client.connect(transport).catch(async (error: unknown) => {
      await client.close();
      throw error;
    });

  const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await attempt(first);
    return connection(first);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  const code = provider.authorizationCode;
  if (code === undefined) throw new Error('the MCP server refused the client, and no code came');
  await first.finishAuth(code);
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await attempt(transport);
  return connection(transport);
}

// ---- raw tokens, without the SDK ----

/** RFC 6749 §2.3.1: each part is form-urlencoded before the pair is base64-encoded. */
function basicAuthorization(idp: OidcIdp): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  const pair = `${encode(idp.clientId)}:${encode(idp.clientSecret)}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

async function authorizationServerMetadata(idp: OidcIdp) {
  const response = await fetch(`${idp.issuer}/.well-known/oauth-authorization-server`, {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`authorization server metadata: HTTP ${response.status}`);
  return OAuthMetadataSchema.parse(await response.json());
}

async function tokenRequest(idp: OidcIdp, params: Record<string, string>): Promise<OAuthTokens> {
  const { token_endpoint } = await authorizationServerMetadata(idp);
  const response = await fetch(token_endpoint, {
    method: 'POST',
    headers: {
      authorization: basicAuthorization(idp),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(params),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) {
    const description = body['error_description'];
    throw new OAuthResponseError(
      String(body['error']),
      typeof description === 'string' ? description : undefined,
      response.status,
    );
  }
  return OAuthTokensSchema.parse(body);
}

/** `scope` is left out of the request when empty, so the provider applies its own default. */
const withScope = (scope: string): Record<string, string> => (scope === '' ? {} : { scope });

/**
 * A user's tokens for `resource` through the authorization code flow with PKCE, signed in by
 * `idp.login()`, without the MCP SDK. Throws {@link OAuthResponseError} on an OAuth error
 * (`invalid_target` for a resource the IdP does not know).
 *
 * @example
 * const { access_token } = await userTokenFor(idp, 'alice', mcpUrl, 'mcp:tools');
 */
export async function userTokenFor(
  idp: OidcIdp,
  user: OidcUserName,
  resource: string,
  scope: string,
): Promise<OAuthTokens> {
  idp.addRedirectUri(MCP_CLIENT_REDIRECT_URI);
  const { authorization_endpoint } = await authorizationServerMetadata(idp);
  const codeVerifier = randomToken();
  const state = randomToken();
  const authorizationUrl = new URL(authorization_endpoint);
  authorizationUrl.search = new URLSearchParams({
    response_type: 'code',
    client_id: idp.clientId,
    redirect_uri: MCP_CLIENT_REDIRECT_URI,
    resource,
    state,
    code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...withScope(scope),
  }).toString();
  const code = codeFromCallback(await idp.login(authorizationUrl, user), idp, state);
  return tokenRequest(idp, {
    grant_type: 'authorization_code',
    code,
    code_verifier: codeVerifier,
    redirect_uri: MCP_CLIENT_REDIRECT_URI,
    resource,
  });
}

/**
 * An app-only token for `resource` (client credentials): its `sub` is the client id and it
 * carries no user claims.
 *
 * @example
 * const { access_token } = await clientCredentialsTokenFor(idp, mcpUrl, 'mcp:tools');
 */
export function clientCredentialsTokenFor(
  idp: OidcIdp,
  resource: string,
  scope: string,
): Promise<OAuthTokens> {
  return tokenRequest(idp, { grant_type: 'client_credentials', resource, ...withScope(scope) });
}

/**
 * Redeems a refresh token for `resource`. The fixture rotates refresh tokens: use the returned
 * one next time; replaying the old one revokes the grant.
 */
export function refreshTokenFor(
  idp: OidcIdp,
  refreshToken: string,
  resource: string,
): Promise<OAuthTokens> {
  return tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: refreshToken, resource });
}

export { rawMcpPost, type RawMcpResponse } from './raw-mcp.js';
