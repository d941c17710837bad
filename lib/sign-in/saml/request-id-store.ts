import type { CacheProvider } from '@node-saml/node-saml';

/**
 * Where the ids of sign-in requests wait for their responses, so that a response is accepted
 * only as the answer to a request this application sent (`InResponseTo`), and only once. It is
 * node-saml's `CacheProvider`; several instances behind a load balancer must share one (the
 * response may reach another instance than the request left from). node-saml keeps them in
 * memory by default.
 */
export type RequestIdStore = CacheProvider;
