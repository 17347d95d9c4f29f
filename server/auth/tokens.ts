// Bearer tokens for agents and for the REST API. A token is random; the database keeps only its
// SHA-256. Lookups go by hash, and the stored hash is compared again in
// constant time before a token is trusted.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export type TokenKind = "enrollment" | "machine" | "api";

const PREFIX: Record<TokenKind, string> = { enrollment: "orch_e_", machine: "orch_m_", api: "orch_a_" };

export function generateToken(kind: TokenKind): { token: string; hash: string; prefix: string } {
  const token = PREFIX[kind] + randomBytes(24).toString("base64url");
  return { token, hash: hashToken(token), prefix: token.slice(0, PREFIX[kind].length + 4) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function tokenKind(token: string): TokenKind | null {
  if (token.startsWith(PREFIX.enrollment)) return "enrollment";
  if (token.startsWith(PREFIX.machine)) return "machine";
  if (token.startsWith(PREFIX.api)) return "api";
  return null;
}

/** Constant-time comparison of two hex hashes. */
export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** The token of an `Authorization: Bearer …` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]{1,256})\s*$/i.exec(header);
  return match ? match[1] : null;
}
