// Who is calling: a signed-in user (the console's session) or an API token
// (the REST API), with the grant it holds. Every adapter turns its
// credentials into a Principal; the procedures turn the Principal into the
// Actor that the domain functions and the audit log see.
import type { Actor } from "../audit/audit";
import type { Grant } from "../vocabulary";

/** A console user, an API token, or the local command line (full access to the database: an admin). */
export const PRINCIPAL_KINDS = ["user", "token", "cli"] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export interface Principal extends Grant {
  kind: PrincipalKind;
  /** The user's or the token's id. */
  id: string;
  /** The user's e-mail, the token's name, or the login of the person running the command line. */
  name: string;
}

/** A grant as stored on a user or a token: `allRings`, else the listed rings. */
export function grantRings(row: { allRings: boolean; rings: string[] }): string[] | null {
  return row.allRings ? null : row.rings;
}

export function actorOf(principal: Principal): Actor {
  switch (principal.kind) {
    case "user":
      return { id: principal.id, label: principal.name, role: principal.role, rings: principal.rings };
    case "token":
      return { id: null, tokenId: principal.id, label: `token:${principal.name}`, role: principal.role, rings: principal.rings };
    case "cli":
      return { id: null, label: `cli:${principal.name}`, role: principal.role, rings: null };
  }
}
