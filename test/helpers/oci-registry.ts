// Real parts for the OCI release-source tests: Debian's `docker-registry`
// (distribution 2.8) as a plain process, images built by `umoci` and pushed
// by `skopeo`, a token server for the registry's `auth: token` mode (JWTs
// signed with a key whose self-signed certificate the registry trusts, sent
// in the `x5c` header as distribution verifies them), htpasswd Basic auth,
// a front that pages `tags/list` as the distribution spec says (this
// registry version ignores `n` on tags/list), and cosign signature artifacts.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";

const run = promisify(execFile);

/** Fails (never skips) when a tool the tests need is missing: CI installs them (.ci/run). */
export async function requireTools(...tools: string[]) {
  const missing: string[] = [];
  for (const tool of tools) {
    try {
      await run("sh", ["-c", `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  if (missing.length) {
    throw new Error(`missing ${missing.join(", ")}: apt-get install -y docker-registry skopeo umoci openssl (as .ci/run does)`);
  }
}

export async function sh(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await run(command, args, { cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export type RegistryAuth =
  | { kind: "none" }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string }
  | { kind: "htpasswd"; path: string };

export interface Registry {
  url: string;
  /** `127.0.0.1:PORT`, for docker:// references. */
  host: string;
  stop(): Promise<void>;
}

export async function startRegistry(dir: string, auth: RegistryAuth = { kind: "none" }): Promise<Registry> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const authYaml =
    auth.kind === "token"
      ? `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.rootCertBundle}\n`
      : auth.kind === "htpasswd"
        ? `auth:\n  htpasswd:\n    realm: orchard-test\n    path: ${auth.path}\n`
        : "";
  const config = `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${path.join(dir, "storage")}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${authYaml}`;
  const configPath = path.join(dir, "config.yml");
  await writeFile(configPath, config);
  const child: ChildProcess = spawn("docker-registry", ["serve", configPath], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  // Never outlive the test process, even when a hook times out before stop().
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.on("exit", () => {
    exited = true;
    process.off("exit", killOnExit);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const response = await fetch(`${url}/v2/`);
      await response.body?.cancel();
      if (response.status === 200 || response.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** An OCI image layout built with umoci. */
export class Layout {
  constructor(readonly dir: string) {}

  static async create(dir: string): Promise<Layout> {
    await sh("umoci", ["init", "--layout", dir]);
    await sh("umoci", ["new", "--image", `${dir}:empty`]);
    return new Layout(dir);
  }

  /**
   * A new tag from `from` plus one layer with `files`, then its labels and
   * creation time set with `umoci config`.
   */
  async build(tag: string, from: string, files: Record<string, string>, config: { labels?: Record<string, string>; created?: string; architecture?: string } = {}) {
    const bundle = `${this.dir}-bundle-${tag}`;
    await sh("umoci", ["unpack", "--rootless", "--image", `${this.dir}:${from}`, bundle]);
    for (const [file, content] of Object.entries(files)) {
      const target = path.join(bundle, "rootfs", file);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    await sh("umoci", ["repack", "--image", `${this.dir}:${tag}`, bundle]);
    const args = ["config", "--image", `${this.dir}:${tag}`];
    for (const [k, v] of Object.entries(config.labels ?? {})) args.push("--config.label", `${k}=${v}`);
    if (config.created) args.push("--created", config.created);
    if (config.architecture) args.push("--architecture", config.architecture);
    if (args.length > 3) await sh("umoci", args);
  }

  /** The manifest descriptor a tag names in index.json. */
  async descriptor(tag: string): Promise<{ mediaType: string; digest: string; size: number }> {
    const index = JSON.parse(await readFile(path.join(this.dir, "index.json"), "utf8")) as {
      manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
    };
    const entry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
    if (!entry) throw new Error(`no tag ${tag} in ${this.dir}`);
    return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
  }

  /** Writes a blob, returns its descriptor fields. */
  async putBlob(bytes: Buffer): Promise<{ digest: string; size: number }> {
    const hex = createHash("sha256").update(bytes).digest("hex");
    await mkdir(path.join(this.dir, "blobs", "sha256"), { recursive: true });
    await writeFile(path.join(this.dir, "blobs", "sha256", hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  }

  /** Tags `tag` → a manifest or index blob of this layout. */
  async tag(tag: string, descriptor: { mediaType: string; digest: string; size: number }) {
    const file = path.join(this.dir, "index.json");
    const index = JSON.parse(await readFile(file, "utf8")) as { manifests: Record<string, unknown>[] };
    index.manifests = index.manifests.filter((m) => (m.annotations as Record<string, string> | undefined)?.["org.opencontainers.image.ref.name"] !== tag);
    index.manifests.push({ ...descriptor, annotations: { "org.opencontainers.image.ref.name": tag } });
    await writeFile(file, JSON.stringify(index));
  }

  /** An OCI index of several tags' manifests, each with its platform, tagged `tag` (umoci cannot make one). */
  async index(tag: string, entries: { tag: string; os: string; architecture: string }[]) {
    const manifests = [];
    for (const e of entries) manifests.push({ ...(await this.descriptor(e.tag)), platform: { os: e.os, architecture: e.architecture } });
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
    const blob = await this.putBlob(bytes);
    await this.tag(tag, { mediaType: "application/vnd.oci.image.index.v1+json", ...blob });
  }

  /** `skopeo copy` a tag to `registry/name:destTag` (`--all` for an index). */
  async push(tag: string, registry: Registry, name: string, destTag: string, options: { creds?: string; all?: boolean } = {}) {
    const args = ["copy", "--quiet", "--dest-tls-verify=false"];
    if (options.creds) args.push("--dest-creds", options.creds);
    if (options.all) args.push("--all");
    args.push(`oci:${this.dir}:${tag}`, `docker://${registry.host}/${name}:${destTag}`);
    await sh("skopeo", args);
  }
}

export async function skopeoInspect(registry: Registry, reference: string, options: { raw?: boolean; creds?: string } = {}) {
  const args = ["inspect", "--tls-verify=false"];
  if (options.raw) args.push("--raw");
  if (options.creds) args.push("--creds", options.creds);
  args.push(`docker://${registry.host}/${reference}`);
  return JSON.parse(await sh("skopeo", args)) as Record<string, unknown>;
}

// --- cosign signatures -----------------------------------------------------

export function signingKey(): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privateKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

/**
 * Signs `digest` as cosign and containers/image do (Debian's skopeo is
 * built with sigstore disabled: "Debian-local change: sigstore disabled",
 * both for signing and verifying): the simple-signing payload
 * `{critical:{identity:{docker-reference}, image:{docker-manifest-digest},
 * type:"cosign container image signature"}, optional:{creator, timestamp}}`,
 * an ECDSA P-256 SHA-256 signature (ASN.1 DER, base64) over its bytes, and
 * an OCI manifest whose one layer (media type
 * application/vnd.dev.cosign.simplesigning.v1+json) is the payload with the
 * signature in the annotation dev.cosignproject.cosign/signature, config
 * an OCI image config with the payload as its one diff_id. The layout is
 * pushed with the real skopeo to the tag `sha256-<hex>.sig`.
 */
export async function pushSignature(
  layoutDir: string,
  registry: Registry,
  name: string,
  digest: string,
  privateKey: KeyObject,
  options: { signedDigest?: string; dockerReference?: string; creds?: string } = {},
) {
  const layout = await Layout.create(layoutDir);
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": options.dockerReference ?? `${registry.host}/${name}:signed` },
        image: { "docker-manifest-digest": options.signedDigest ?? digest },
        type: "cosign container image signature",
      },
      optional: { creator: "orchard test (containers/image format)", timestamp: Math.floor(Date.now() / 1000) },
    }),
  );
  const signature = sign("sha256", payload, privateKey).toString("base64");
  const payloadBlob = await layout.putBlob(payload);
  const configBlob = await layout.putBlob(
    Buffer.from(JSON.stringify({ architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [payloadBlob.digest] } })),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob },
      layers: [
        {
          mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
          ...payloadBlob,
          annotations: { "dev.cosignproject.cosign/signature": signature },
        },
      ],
    }),
  );
  const manifestBlob = await layout.putBlob(manifest);
  await layout.tag("sig", { mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifestBlob });
  await layout.push("sig", registry, name, `${digest.replace(":", "-")}.sig`, { creds: options.creds });
  return manifestBlob.digest;
}

// --- a token server for `auth: token` ----------------------------------------

export interface TokenServer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  /** Every token request: its query and the user of its Basic credentials (null when anonymous). */
  requests: { service: string | null; scopes: string[]; user: string | null }[];
  /** The next token issued is already expired (the registry refuses it) while `expires_in` says 300 s. */
  expireNextToken: boolean;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/**
 * Issues JWTs as Docker's token protocol does, to the users given (any
 * action they ask for on any repository); refuses others with 401. The key
 * is ECDSA P-256 with a self-signed certificate made by openssl: the
 * registry trusts the certificate (rootcertbundle) and finds it in the
 * token's `x5c` header.
 */
export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  await mkdir(dir, { recursive: true });
  const keyPath = path.join(dir, "token.key");
  const certPath = path.join(dir, "token.crt");
  await sh("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=orchard-test-token-issuer",
  ]);
  const keyPem = await readFile(keyPath, "utf8");
  const certPem = await readFile(certPath, "utf8");
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const service = "orchard-test-registry";
  const issuer = "orchard-test-issuer";
  const requests: TokenServer["requests"] = [];
  const state = { expireNextToken: false } as TokenServer;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    let user: string | null = null;
    if (basic) {
      const decoded = Buffer.from(basic, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const name = decoded.slice(0, colon);
      if (colon < 0 || users[name] === undefined || users[name] !== decoded.slice(colon + 1)) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "wrong credentials" }));
        requests.push({ service: url.searchParams.get("service"), scopes: url.searchParams.getAll("scope"), user: `refused:${name}` });
        return;
      }
      user = name;
    }
    const scopes = url.searchParams.getAll("scope");
    requests.push({ service: url.searchParams.get("service"), scopes, user });
    if (url.pathname !== "/token" || !user) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "credentials required" }));
      return;
    }
    const access = scopes.flatMap((scope) => {
      const [type, ...rest] = scope.split(":");
      const actions = rest.pop() ?? "";
      return [{ type, name: rest.join(":"), actions: actions.split(",") }];
    });
    let now = Math.floor(Date.now() / 1000);
    if (state.expireNextToken) {
      state.expireNextToken = false;
      now -= 3600;
    }
    const header = { typ: "JWT", alg: "ES256", x5c: [certDer.toString("base64")] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()).slice(2), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: keyPem, dsaEncoding: "ieee-p1363" });
    // `access_token` only (the OAuth 2 name), as some token servers answer.
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: `${input}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  Object.assign(state, {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    rootCertBundle: certPath,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return state;
}

/** An htpasswd file with bcrypt entries (what distribution's htpasswd auth reads). */
export async function writeHtpasswd(file: string, users: Record<string, string>) {
  const lines = Object.entries(users).map(([user, password]) => `${user}:${bcrypt.hashSync(password, 5)}`);
  await writeFile(file, `${lines.join("\n")}\n`);
}

// --- paging front ------------------------------------------------------------

export interface PagingFront {
  url: string;
  /** The `n` and `last` of every tags/list request. */
  tagPages: { n: string | null; last: string | null }[];
  /** Every request, as `METHOD /path`. */
  requests: string[];
  stop(): Promise<void>;
}

/**
 * Forwards everything to the registry, except `GET /v2/NAME/tags/list`,
 * which it answers a page at a time as the distribution spec says: tags in
 * lexical order, at most `n`, those after `last`, and a
 * `Link: </v2/NAME/tags/list?n=N&last=L>; rel="next"` while more remain.
 * With `tamperManifests`, it adds a space to every manifest it forwards
 * (still JSON, the registry's Docker-Content-Digest kept): a registry or
 * proxy serving other bytes than the digest says.
 */
export async function startPagingFront(upstream: string, options: { tamperManifests?: boolean } = {}): Promise<PagingFront> {
  const tagPages: PagingFront["tagPages"] = [];
  const requests: string[] = [];
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", upstream);
      requests.push(`${req.method} ${url.pathname}`);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host") headers[k] = v;
      const tagsList = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
      if (tagsList && req.method === "GET") {
        const n = url.searchParams.get("n");
        const last = url.searchParams.get("last");
        tagPages.push({ n, last });
        const upstreamResponse = await fetch(new URL(url.pathname, upstream), { headers });
        const body = (await upstreamResponse.json()) as { name: string; tags: string[] };
        if (!upstreamResponse.ok) return void res.writeHead(upstreamResponse.status, { "content-type": "application/json" }).end(JSON.stringify(body));
        const all = [...body.tags].sort();
        const after = last === null ? all : all.filter((t) => t > last);
        const size = n === null ? after.length : Number(n);
        const page = after.slice(0, size);
        const out: Record<string, string> = { "content-type": "application/json" };
        if (page.length < after.length) {
          out.link = `</v2/${tagsList[1]}/tags/list?n=${size}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`;
        }
        res.writeHead(200, out).end(JSON.stringify({ name: body.name, tags: page }));
        return;
      }
      const upstreamResponse = await fetch(url, { method: req.method, headers, redirect: "manual" });
      const out: Record<string, string> = {};
      upstreamResponse.headers.forEach((v, k) => {
        if (k !== "content-encoding" && k !== "transfer-encoding") out[k] = v;
      });
      let bytes = Buffer.from(await upstreamResponse.arrayBuffer());
      if (options.tamperManifests && url.pathname.includes("/manifests/") && req.method === "GET" && upstreamResponse.ok) {
        bytes = Buffer.concat([bytes, Buffer.from(" ")]);
        out["content-length"] = String(bytes.length);
      }
      res.writeHead(upstreamResponse.status, out).end(req.method === "HEAD" ? undefined : bytes);
    } catch (error) {
      res.writeHead(502).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, tagPages, requests, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
