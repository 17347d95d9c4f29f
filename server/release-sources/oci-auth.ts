// Registry authentication as the distribution spec and Docker's token
// protocol describe it: a 401 carries `WWW-Authenticate` challenges; for
// `Bearer realm=…,service=…,scope=…` the client GETs the realm with `service`
// and `scope` (Basic credentials if it has some) and sends the `token` (or
// `access_token`) it gets back as `Authorization: Bearer …` until
// `expires_in` (60 s when absent) runs out; for `Basic` it sends the
// credentials themselves.
import { createHash } from "node:crypto";

export interface Challenge {
  /** Lower-case: "bearer", "basic", … */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` value (RFC 7235), which may hold several
 * challenges separated by commas (`Basic realm="a", Bearer realm="b",scope="x"`).
 * Parameter names are lower-cased; quoted values are unescaped.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpaces = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skipSpaces();
    while (i < n && header[i] === ",") {
      i++;
      skipSpaces();
    }
    if (i >= n) break;
    const scheme = readToken();
    if (!scheme) {
      i++; // not a token character: skip it rather than loop
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    // auth-params: name=value pairs separated by commas, until a token not followed by "=" (the next scheme)
    for (;;) {
      skipSpaces();
      const save = i;
      const name = readToken();
      skipSpaces();
      if (!name || header[i] !== "=") {
        i = save;
        break;
      }
      i++; // "="
      skipSpaces();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && header[i] !== "," && header[i] !== " " && header[i] !== "\t") i++;
        value = header.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
      skipSpaces();
      if (header[i] === ",") {
        i++;
        continue;
      }
      break;
    }
  }
  return challenges;
}

export interface Credentials {
  username: string;
  password: string;
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`;
}

/** What a token endpoint answers: `token` (Docker) or `access_token` (OAuth 2), `expires_in` in seconds. */
export function readTokenResponse(body: unknown, now: number): { token: string; expiresAt: number } | null {
  if (typeof body !== "object" || body === null) return null;
  const record = body as Record<string, unknown>;
  const token =
    typeof record.token === "string" && record.token
      ? record.token
      : typeof record.access_token === "string" && record.access_token
        ? record.access_token
        : null;
  if (!token) return null;
  const expiresIn =
    typeof record.expires_in === "number" && Number.isFinite(record.expires_in) && record.expires_in > 0
      ? record.expires_in
      : 60; // the token spec's default
  // Renew a little early so that a token does not run out between our check and the registry's.
  const margin = Math.min(10, expiresIn / 4);
  return { token, expiresAt: now + (expiresIn - margin) * 1000 };
}

/**
 * Tokens by realm, service, scope and who asked: kept until they expire so
 * that a poll every minute asks the token server once per token lifetime,
 * not once per request. Bounded: the oldest entry goes first.
 */
export class TokenCache {
  private readonly entries = new Map<string, { token: string; expiresAt: number }>();

  constructor(private readonly maxEntries = 256) {}

  static key(realm: string, service: string | undefined, scope: string | undefined, credentials?: Credentials) {
    const who = credentials
      ? `${credentials.username}:${createHash("sha256").update(credentials.password).digest("hex")}`
      : "anonymous";
    return JSON.stringify([realm, service ?? "", scope ?? "", who]);
  }

  get(key: string, now: number): string | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return null;
    }
    return entry.token;
  }

  set(key: string, token: string, expiresAt: number) {
    this.entries.delete(key);
    this.entries.set(key, { token, expiresAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  delete(key: string) {
    this.entries.delete(key);
  }
}
