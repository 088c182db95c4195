/**
 * Who is calling and what the department registry grants it. The gateway
 * authenticates a department (mutual TLS or a signed token), looks up its
 * grants, and vouches for both to the services (see identity.ts); every route
 * reads the caller from here, never from a raw header.
 */
export interface Grants {
  /** Event types the department may publish (only an approval bureau publishes licence decisions). */
  readonly publish: readonly string[];
  /** Topic families and regions (6-digit codes, or "*") the department may read. */
  readonly subscribe: { readonly families: readonly string[]; readonly regions: readonly string[] };
  /** May receive personal data in clear and decrypt it through the gateway. */
  readonly pii: boolean;
  /** May use the auditor API. */
  readonly audit: boolean;
  /** May change the department registry. */
  readonly admin: boolean;
}

export interface Caller {
  readonly department: string;
  readonly grants: Grants;
  /** When the credential it authenticated with stops being valid (a token's exp); long-lived streams end then. */
  readonly expiresAt?: Date;
}

export const NO_GRANTS: Grants = Object.freeze({
  publish: [],
  subscribe: { families: [], regions: [] },
  pii: false,
  audit: false,
  admin: false,
});

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the authentication hook (gateway) or the identity assertion check (services). */
    caller?: Caller;
  }
}
