// A client for one repository of an OCI distribution registry, just what a
// release source needs: the `/v2/` probe, authentication (bearer-token
// challenge or Basic), the tag list with its pagination, manifests with the
// right `Accept`, and blobs, every body checked against its digest. Every
// failure is a SourceReadError with a sentence for the operator.
import { createHash } from "node:crypto";
import {
  basicAuthorization,
  type Challenge,
  type Credentials,
  parseWwwAuthenticate,
  readTokenResponse,
  TokenCache,
} from "./oci-auth";
import { parseNextLink } from "./oci-tags";
import { SourceReadError } from "./source-error";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerList,
].join(", ");

/** The distribution spec's limit for a manifest; configs are small too. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_BLOB_BYTES = 16 * 1024 * 1024;
/** A repository with more tags than this is refused rather than listed forever. */
const MAX_TAG_PAGES = 1000;

export const digestSyntax = /^sha256:[0-9a-f]{64}$/;

/** Shared by every reader in this process: a token outlives one poll. */
const sharedTokenCache = new TokenCache();

/**
 * Manifests and blobs are content-addressed: what was read once by digest
 * never changes, so a poll re-reads only what it has not seen (bounded).
 */
const contentCache = new Map<string, Buffer>();
const CONTENT_CACHE_ENTRIES = 512;
function cacheGet(key: string): Buffer | undefined {
  const value = contentCache.get(key);
  if (value) {
    contentCache.delete(key);
    contentCache.set(key, value);
  }
  return value;
}
function cacheSet(key: string, value: Buffer) {
  contentCache.set(key, value);
  while (contentCache.size > CONTENT_CACHE_ENTRIES) {
    const oldest = contentCache.keys().next().value;
    if (oldest === undefined) break;
    contentCache.delete(oldest);
  }
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export interface ManifestDocument {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

export interface RegistryClientOptions {
  registry: URL;
  repository: string;
  credentials?: Credentials;
  signal?: AbortSignal;
  /** Per request, the body included. */
  timeoutMs: number;
  tokenCache?: TokenCache;
}

export class RegistryClient {
  private authorization: string | null = null;
  private readonly tokenCache: TokenCache;
  private readonly scope: string;
  private readonly origin: string;

  constructor(private readonly options: RegistryClientOptions) {
    this.tokenCache = options.tokenCache ?? sharedTokenCache;
    this.scope = `repository:${options.repository}:pull`;
    this.origin = options.registry.origin;
  }

  private get repository() {
    return this.options.repository;
  }

  /** `GET /v2/`: is this a registry, and how does it want us to authenticate? */
  async probe(): Promise<void> {
    const response = await this.send("GET", "/v2/", {});
    if (response.status === 200) {
      await response.body?.cancel();
      return;
    }
    if (response.status === 401) {
      await response.body?.cancel();
      await this.authenticate(response);
      return;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      throw new SourceReadError("config", `${this.origin} does not answer as an OCI registry (GET /v2/ answered 404)`);
    }
    throw await this.failure(response, "GET /v2/");
  }

  /** Every tag of the repository, following `Link: <…>; rel="next"` (`n` per page). */
  async listTags(pageSize: number): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | null = this.url(`/v2/${this.repository}/tags/list?n=${pageSize}`);
    for (let page = 0; url; page++) {
      if (page >= MAX_TAG_PAGES) {
        throw new SourceReadError("protocol", `${this.repository} has more than ${MAX_TAG_PAGES} pages of tags; stopped listing`);
      }
      const response = await this.request("GET", url, {}, "the tag list");
      const body = await this.readJson(response, MAX_MANIFEST_BYTES, `the tag list of ${this.repository}`);
      const pageTags = (body as { tags?: unknown }).tags;
      if (pageTags !== null && pageTags !== undefined && !Array.isArray(pageTags)) {
        throw new SourceReadError("protocol", `registry ${this.origin} sent a tag list for ${this.repository} without a "tags" array`);
      }
      for (const tag of pageTags ?? []) if (typeof tag === "string") tags.push(tag);
      const next = parseNextLink(response.headers.get("link"), url);
      if (next && next.origin !== this.origin) {
        throw new SourceReadError("protocol", `registry ${this.origin} sent a next-page link to another host (${next.origin})`);
      }
      url = next;
    }
    return tags;
  }

  /**
   * `HEAD` a manifest: its digest from `Docker-Content-Digest` without
   * downloading it (registries count a HEAD as no pull), null when the
   * registry does not say; `missing` on 404.
   */
  async headManifest(reference: string): Promise<{ digest: string | null } | "missing"> {
    const url = this.url(`/v2/${this.repository}/manifests/${reference}`);
    const response = await this.request("HEAD", url, { accept: MANIFEST_ACCEPT }, `the manifest of ${reference}`, true);
    if (response.status === 404) return "missing";
    const digest = response.headers.get("docker-content-digest");
    return { digest: digest && digestSyntax.test(digest) ? digest : null };
  }

  /**
   * A manifest or index by tag or digest. The digest returned is the sha256
   * of the bytes received: by digest it must be the one asked for, by tag it
   * must equal `Docker-Content-Digest` when the registry sends one.
   */
  async getManifest(reference: string): Promise<ManifestDocument | "missing"> {
    const byDigest = digestSyntax.test(reference);
    const cacheKey = `${this.origin}/${this.repository}@${reference}`;
    let bytes = byDigest ? cacheGet(cacheKey) : undefined;
    let contentType: string | null = null;
    if (!bytes) {
      const url = this.url(`/v2/${this.repository}/manifests/${reference}`);
      const response = await this.request("GET", url, { accept: MANIFEST_ACCEPT }, `the manifest of ${reference}`, true);
      if (response.status === 404) {
        await response.body?.cancel();
        return "missing";
      }
      contentType = response.headers.get("content-type");
      bytes = await this.readBytes(response, MAX_MANIFEST_BYTES, `the manifest of ${reference}`);
      const computed = sha256Digest(bytes);
      const claimed = response.headers.get("docker-content-digest");
      if (byDigest && computed !== reference) {
        throw new SourceReadError("protocol", `registry ${this.origin} sent a manifest for ${reference} whose sha256 is ${computed}`);
      }
      if (claimed && claimed.startsWith("sha256:") && claimed !== computed) {
        throw new SourceReadError(
          "protocol",
          `registry ${this.origin} sent the manifest of ${this.repository}:${reference} with Docker-Content-Digest ${claimed} but its bytes hash to ${computed}`,
        );
      }
      cacheSet(`${this.origin}/${this.repository}@${computed}`, bytes);
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new SourceReadError("protocol", `registry ${this.origin} sent a manifest for ${this.repository}:${reference} that is not JSON`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new SourceReadError("protocol", `registry ${this.origin} sent a manifest for ${this.repository}:${reference} that is not a JSON object`);
    }
    const record = json as Record<string, unknown>;
    const mediaType =
      (typeof record.mediaType === "string" && record.mediaType) ||
      contentType?.split(";")[0].trim() ||
      (Array.isArray(record.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
    return { digest: sha256Digest(bytes), mediaType, bytes, json: record };
  }

  /** A blob by digest, its bytes checked against the digest. Redirects (to a CDN, say) are followed. */
  async getBlob(digest: string, what: string): Promise<Buffer> {
    const cacheKey = `${this.origin}/${this.repository}@${digest}`;
    const cached = cacheGet(cacheKey);
    if (cached) return cached;
    const url = this.url(`/v2/${this.repository}/blobs/${digest}`);
    const response = await this.request("GET", url, {}, what);
    const bytes = await this.readBytes(response, MAX_BLOB_BYTES, what);
    if (sha256Digest(bytes) !== digest) {
      throw new SourceReadError("protocol", `registry ${this.origin} sent ${what} (${digest}) whose bytes hash to ${sha256Digest(bytes)}`);
    }
    cacheSet(cacheKey, bytes);
    return bytes;
  }

  private url(path: string): URL {
    return new URL(path, this.options.registry);
  }

  /**
   * Sends a request with the current authorization; on 401, answers the
   * challenge once and sends it again. 404 is returned to the caller when
   * `allowMissing`, every other failure is thrown.
   */
  private async request(
    method: string,
    url: URL,
    headers: Record<string, string>,
    what: string,
    allowMissing = false,
  ): Promise<Response> {
    let response = await this.send(method, url, headers);
    if (response.status === 401) {
      await response.body?.cancel();
      const hadAuthorization = this.authorization;
      await this.authenticate(response, hadAuthorization !== null);
      response = await this.send(method, url, headers);
      if (response.status === 401) {
        await response.body?.cancel();
        throw this.refused(response);
      }
    }
    if (response.ok) return response;
    if (response.status === 404 && allowMissing) return response;
    throw await this.failure(response, what);
  }

  /**
   * Answers a 401's challenge: a token from the realm (cached) or Basic
   * credentials. `retrying`: we had sent an authorization and it was not
   * enough, so a cached token must not be used again.
   */
  private async authenticate(response: Response, retrying = false): Promise<void> {
    const header = response.headers.get("www-authenticate");
    const challenges = header ? parseWwwAuthenticate(header) : [];
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    if (bearer) {
      this.authorization = `Bearer ${await this.token(bearer, retrying)}`;
      return;
    }
    if (basic) {
      if (!this.options.credentials) throw this.needsCredentials();
      if (retrying && this.authorization?.startsWith("Basic ")) throw this.refused(response);
      this.authorization = basicAuthorization(this.options.credentials);
      return;
    }
    throw new SourceReadError(
      "protocol",
      header
        ? `registry ${this.origin} asks for an authentication scheme Orchard does not speak: ${challenges.map((c) => c.scheme).join(", ") || header}`
        : `registry ${this.origin} answered 401 without a WWW-Authenticate challenge`,
    );
  }

  private async token(challenge: Challenge, retrying: boolean): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new SourceReadError("protocol", `registry ${this.origin} sent a Bearer challenge without a realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new SourceReadError("protocol", `registry ${this.origin} sent a Bearer challenge whose realm is not a URL: ${realm}`);
    }
    if (realmUrl.protocol !== "https:" && realmUrl.protocol !== "http:") {
      throw new SourceReadError("protocol", `registry ${this.origin} sent a Bearer realm that is not http(s): ${realm}`);
    }
    // The challenge's scope when it names one (an insufficient_scope answer does), else pull on our repository.
    const scope = challenge.params.scope || this.scope;
    const service = challenge.params.service;
    const credentials = this.options.credentials;
    const key = TokenCache.key(realmUrl.href, service, scope, credentials);
    if (retrying) this.tokenCache.delete(key);
    else {
      const cached = this.tokenCache.get(key, Date.now());
      if (cached) return cached;
    }
    if (service) realmUrl.searchParams.set("service", service);
    for (const s of scope.split(" ")) realmUrl.searchParams.append("scope", s);
    if (credentials) realmUrl.searchParams.set("account", credentials.username);
    const headers: Record<string, string> = { accept: "application/json" };
    if (credentials) headers.authorization = basicAuthorization(credentials);
    const response = await this.fetchWithTimeout(realmUrl, { method: "GET", headers, redirect: "follow" }, `the token server ${realmUrl.origin}`);
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw credentials ? this.refused(response) : this.needsCredentials();
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new SourceReadError("protocol", `the token server ${realmUrl.origin} answered ${response.status} for ${this.repository}`);
    }
    const body = await this.readJson(response, 1024 * 1024, `the token from ${realmUrl.origin}`);
    const token = readTokenResponse(body, Date.now());
    if (!token) throw new SourceReadError("protocol", `the token server ${realmUrl.origin} answered without a token`);
    this.tokenCache.set(key, token.token, token.expiresAt);
    return token.token;
  }

  private needsCredentials() {
    return new SourceReadError("credentials", `registry requires credentials for ${this.repository} and none are configured`);
  }

  private refused(response: Response) {
    if (!this.options.credentials) return this.needsCredentials();
    const header = response.headers.get("www-authenticate") ?? "";
    const insufficientScope = /error="?insufficient_scope/.test(header);
    return new SourceReadError(
      "credentials",
      `registry refused the credentials for ${this.repository}${insufficientScope ? " (no pull access: the repository may not exist there)" : ""}`,
    );
  }

  private async send(method: string, url: URL | string, headers: Record<string, string>): Promise<Response> {
    const target = typeof url === "string" ? this.url(url) : url;
    const all: Record<string, string> = { ...headers };
    if (this.authorization) all.authorization = this.authorization;
    return this.fetchWithTimeout(target, { method, headers: all, redirect: "follow" }, `registry ${this.origin}`);
  }

  private async fetchWithTimeout(url: URL, init: RequestInit, who: string): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;
    try {
      return await fetch(url, { ...init, signal });
    } catch (error) {
      throw this.transportError(error, who, timeout);
    }
  }

  private transportError(error: unknown, who: string, timeout?: AbortSignal): SourceReadError {
    if (error instanceof SourceReadError) return error;
    if (this.options.signal?.aborted) return new SourceReadError("aborted", `reading ${this.repository} was cancelled`, { cause: error });
    if (timeout?.aborted || (error instanceof Error && error.name === "TimeoutError")) {
      return new SourceReadError("unreachable", `${who} did not answer within ${Math.round(this.options.timeoutMs / 1000)} s`, { cause: error });
    }
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const code = (cause as { code?: unknown } | null)?.code;
    const detail = typeof code === "string" ? code : cause instanceof Error ? cause.message : String(cause);
    return new SourceReadError("unreachable", `${who} is unreachable: ${detail}`, { cause: error });
  }

  private async readBytes(response: Response, limit: number, what: string): Promise<Buffer> {
    const length = Number(response.headers.get("content-length"));
    if (Number.isFinite(length) && length > limit) {
      await response.body?.cancel();
      throw new SourceReadError("protocol", `${what} is ${length} bytes, more than the ${limit} Orchard reads`);
    }
    let buffer: ArrayBuffer;
    try {
      buffer = await response.arrayBuffer();
    } catch (error) {
      throw this.transportError(error, `registry ${this.origin}`);
    }
    if (buffer.byteLength > limit) throw new SourceReadError("protocol", `${what} is more than the ${limit} bytes Orchard reads`);
    return Buffer.from(buffer);
  }

  private async readJson(response: Response, limit: number, what: string): Promise<unknown> {
    const bytes = await this.readBytes(response, limit, what);
    try {
      return JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new SourceReadError("protocol", `${what} is not JSON`);
    }
  }

  /** A sentence for a non-2xx answer, with the registry's own error code when it sent one. */
  private async failure(response: Response, what: string): Promise<SourceReadError> {
    let codes: string[] = [];
    let messages: string[] = [];
    try {
      const body = JSON.parse((await this.readBytes(response, 64 * 1024, what)).toString("utf8")) as {
        errors?: { code?: unknown; message?: unknown }[];
      };
      codes = (body.errors ?? []).map((e) => String(e.code ?? ""));
      messages = (body.errors ?? []).map((e) => String(e.message ?? e.code ?? "")).filter(Boolean);
    } catch {
      // not the registry's JSON error document: the status says enough
    }
    const status = response.status;
    if (codes.includes("NAME_UNKNOWN") || (status === 404 && what === "the tag list")) {
      return new SourceReadError("not_found", `repository ${this.repository} not found on ${this.origin}`);
    }
    if (status === 404) return new SourceReadError("not_found", `${what} of ${this.repository} not found on ${this.origin}`);
    if (status === 403) return new SourceReadError("credentials", `registry denied access to ${this.repository}`);
    if (status === 429) {
      const retryAfter = response.headers.get("retry-after");
      return new SourceReadError("unreachable", `registry ${this.origin} is rate-limiting requests${retryAfter ? ` (retry after ${retryAfter} s)` : ""}`);
    }
    return new SourceReadError(
      "protocol",
      `registry ${this.origin} answered ${status} for ${what} of ${this.repository}${messages.length ? `: ${messages.join("; ")}` : ""}`,
    );
  }
}
