import { errorResponse } from '../core/error-response.js';
import type { IdentityError } from '../core/errors.js';

/** What the MCP server's challenges add to RFC 6750's. */
export interface ChallengeContext {
  /** The Protected Resource Metadata URL (RFC 9728 §5.1 `resource_metadata`). */
  readonly metadataUrl: string;
  /** Scopes a new token should carry, offered on a 401 (MCP 2025-11-25). */
  readonly scopes: readonly string[];
  readonly realm: string | undefined;
}

/**
 * The response for a refusal, with the challenge an MCP client needs to get a (better) token:
 * every 401 and every `insufficient_scope` 403 names the metadata URL, from which the client
 * finds the authorization server; a 401 also says which scopes to ask for.
 */
export function mcpErrorResponse(
  error: IdentityError,
  requestId: string,
  context: ChallengeContext,
): ReturnType<typeof errorResponse> {
  const response = errorResponse(error, { requestId, realm: context.realm });
  const challenge = response.headers['WWW-Authenticate'];
  if (challenge === undefined) return response;
  const params = [`resource_metadata="${context.metadataUrl}"`];
  if (error.status === 401 && context.scopes.length > 0 && !challenge.includes(' scope="')) {
    params.push(`scope="${context.scopes.join(' ')}"`);
  }
  const joined =
    challenge === 'Bearer' ? `Bearer ${params.join(', ')}` : `${challenge}, ${params.join(', ')}`;
  return { ...response, headers: { ...response.headers, 'WWW-Authenticate': joined } };
}
