// The MCP entry: protects an MCP server (Streamable HTTP, `@modelcontextprotocol/sdk`) as an
// OAuth 2.0 resource server whose every tool call runs, and is audited, as the signed-in user.
// The SDK is a peer dependency of this entry only.

export { protectMcp } from './mcp/protect-mcp.js';
export type { ProtectedMcp, McpHandler } from './mcp/protect-mcp.js';
export type { McpOptions } from './mcp/mcp-options.js';
export type { ProtectedResourceMetadata } from './mcp/resource-metadata.js';
export { createMemoryMcpSessionStore } from './mcp/session-binding.js';
export type { McpSessionStore } from './mcp/session-binding.js';
export { identityOfAuthInfo } from './mcp/auth-info.js';
