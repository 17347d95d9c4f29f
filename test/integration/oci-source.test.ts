// The OCI release source against real parts: Debian's docker-registry,
// images built with umoci and pushed with skopeo, the registry's token auth
// with a token server of the test's own, htpasswd Basic auth, and cosign
// signature artifacts in the registry.
import { mkdtemp, rm } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffImages, type FoundImage, readOciSource, SourceReadError } from "../../server/release-sources/oci";
import {
  freePort,
  Layout,
  type PagingFront,
  pushSignature,
  type Registry,
  requireTools,
  signingKey,
  skopeoInspect,
  startPagingFront,
  startRegistry,
  startTokenServer,
  type TokenServer,
  writeHtpasswd,
} from "../helpers/oci-registry";

const NAME = "exampleos/bootc";
const OS_RELEASE = "ID=exampleos\nPRETTY_NAME=ExampleOS\n";

let dir: string;
let layout: Layout;
let registry: Registry;
const stops: (() => Promise<void>)[] = [];

async function readError(promise: Promise<unknown>): Promise<SourceReadError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SourceReadError) return error;
    throw error;
  }
  throw new Error("the read did not fail");
}

beforeAll(async () => {
  await requireTools("docker-registry", "skopeo", "umoci", "openssl");
  dir = await mkdtemp(path.join(process.env.TMPDIR ?? os.tmpdir(), "oci-source-"));
  layout = await Layout.create(path.join(dir, "layout"));
  await layout.build("v1", "empty", { "usr/lib/os-release": OS_RELEASE }, {
    labels: {
      "org.opencontainers.image.version": "41.1",
      "org.opencontainers.image.title": "ExampleOS 41.1",
      "org.opencontainers.image.description": "The first image.",
      "org.opencontainers.image.revision": "abc123",
      "com.example.channel": "stable",
    },
    created: "2026-11-01T10:00:00Z",
  });
  await layout.build("v2", "v1", { "usr/share/exampleos/feature": "new\n" }, {
    labels: { "org.opencontainers.image.version": "41.2", "org.opencontainers.image.title": "ExampleOS 41.2", "com.example.extra": "yes" },
    created: "2026-11-15T10:00:00Z",
  });
  await layout.build("v3", "v1", { "etc/stable-only": "x\n" }, {
    labels: { "org.opencontainers.image.version": "stable-1" },
    created: "2026-11-10T10:00:00Z",
  });
  await layout.build("arm", "v1", { "usr/lib/arm": "arm64\n" }, {
    labels: { "org.opencontainers.image.version": "41.1-arm" },
    created: "2026-11-02T10:00:00Z",
    architecture: "arm64",
  });
  await layout.index("multi", [
    { tag: "arm", os: "linux", architecture: "arm64" },
    { tag: "v1", os: "linux", architecture: "amd64" },
  ]);
  registry = await startRegistry(path.join(dir, "open"));
  stops.push(registry.stop);
  await layout.push("v1", registry, NAME, "41.1");
  await layout.push("v2", registry, NAME, "41.2");
  await layout.push("v3", registry, NAME, "stable-1");
  await layout.push("v1", registry, NAME, "latest"); // the same image as 41.1
  await layout.push("multi", registry, "exampleos/multi", "41", { all: true });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("an open registry", () => {
  it("reads one tag: the digest skopeo and the registry give, version, build time, notes, labels and layers", async () => {
    const [image, ...rest] = await readOciSource({ registry: registry.url, repository: NAME, tag: "41.1" });
    expect(rest).toEqual([]);
    const inspected = await skopeoInspect(registry, `${NAME}:41.1`);
    const raw = (await skopeoInspect(registry, `${NAME}:41.1`, { raw: true })) as { layers: { digest: string; size: number; mediaType: string }[] };
    const head = await fetch(`${registry.url}/v2/${NAME}/manifests/41.1`, {
      method: "HEAD",
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(image.digest).toBe(inspected.Digest);
    expect(image.digest).toBe(head.headers.get("docker-content-digest"));
    expect(image.digest).toBe((await layout.descriptor("v1")).digest);
    expect(image.checksum).toBe(image.digest.slice("sha256:".length));
    expect(image.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(image.indexDigest).toBeNull();
    expect(image.tag).toBe("41.1");
    expect(image.version).toBe("41.1");
    expect(image.builtAt?.toISOString()).toBe("2026-11-01T10:00:00.000Z");
    expect(new Date(String(inspected.Created)).toISOString()).toBe("2026-11-01T10:00:00.000Z");
    expect(image.subject).toBe("ExampleOS 41.1");
    expect(image.body).toBe("The first image.\nRevision: abc123");
    expect(image.labels).toEqual(inspected.Labels);
    expect(image.layers).toEqual(raw.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })));
    expect(image.layers.map((l) => l.digest)).toEqual(inspected.Layers);
    expect(image.signature).toEqual({ state: "not_checked", reason: null });
  });

  it("reads the tags a pattern matches, newest build first; one image per digest; known digests cost nothing", async () => {
    const all = await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "*" });
    expect(all.map((i) => i.tags)).toEqual([["41.2"], ["stable-1"], ["41.1", "latest"]]);
    const v41 = await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "41.*" });
    expect(v41.map((i) => [i.tag, i.version])).toEqual([["41.2", "41.2"], ["41.1", "41.1"]]);
    const stable = await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "stable-*" });
    expect(stable.map((i) => i.tag)).toEqual(["stable-1"]);
    const known = new Set([v41[1].digest, v41[0].checksum]); // either form
    expect(await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "41.*" }, { knownDigests: known })).toEqual([]);
    const rest = await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "*" }, { knownDigests: known });
    expect(rest.map((i) => i.tag)).toEqual(["stable-1"]);
    expect(await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "42.*" })).toEqual([]);
  });

  it("follows the tag list's pages (Link rel=next, n and last)", async () => {
    const front: PagingFront = await startPagingFront(registry.url);
    stops.push(front.stop);
    const images = await readOciSource({ registry: front.url, repository: NAME, tagPattern: "*" }, { pageSize: 2 });
    expect(images.flatMap((i) => i.tags).sort()).toEqual(["41.1", "41.2", "latest", "stable-1"]);
    expect(front.tagPages).toEqual([
      { n: "2", last: null },
      { n: "2", last: "41.2" },
    ]);
    const one = await readOciSource({ registry: front.url, repository: NAME, tagPattern: "*" }, { pageSize: 1 });
    expect(one.flatMap((i) => i.tags).sort()).toEqual(["41.1", "41.2", "latest", "stable-1"]);
    expect(front.tagPages.slice(2).map((p) => p.last)).toEqual([null, "41.1", "41.2", "latest"]);
  });

  it("costs one HEAD per tag once its digest is known; what was read by digest is not read again", async () => {
    const front = await startPagingFront(registry.url);
    stops.push(front.stop);
    const config = { registry: front.url, repository: NAME, tagPattern: "*" };
    const first = await readOciSource(config, { pageSize: 10 });
    const tagsList = `GET /v2/${NAME}/tags/list`;
    const heads = ["41.1", "41.2", "latest", "stable-1"].map((t) => `HEAD /v2/${NAME}/manifests/${t}`);
    // each image: HEAD by tag, GET by digest, its configuration (41.1 and latest share theirs)
    // (41.1 and latest name the same image: read once)
    expect(front.requests.filter((r) => r.startsWith("GET /v2/exampleos/bootc/manifests/sha256:"))).toHaveLength(3);
    expect(front.requests.filter((r) => r.startsWith("GET /v2/exampleos/bootc/blobs/sha256:"))).toHaveLength(3);
    expect(front.requests).toHaveLength(2 + 4 + 3 + 3);

    front.requests.length = 0;
    expect(await readOciSource(config, { pageSize: 10, knownDigests: new Set(first.map((i) => i.digest)) })).toEqual([]);
    expect(front.requests.sort()).toEqual(["GET /v2/", tagsList, ...heads].sort());

    front.requests.length = 0;
    expect(await readOciSource(config, { pageSize: 10 })).toEqual(first);
    expect(front.requests.sort()).toEqual(["GET /v2/", tagsList, ...heads].sort());
  });

  it("refuses a manifest whose bytes are not the digest the registry names", async () => {
    const front = await startPagingFront(registry.url, { tamperManifests: true });
    stops.push(front.stop);
    const error = await readError(readOciSource({ registry: front.url, repository: NAME, tag: "41.2" }));
    expect(error.kind).toBe("protocol");
    expect(error.message).toMatch(
      new RegExp(`^registry ${front.url} sent a manifest for (sha256:[0-9a-f]{64}) whose sha256 is (?!\\1)sha256:[0-9a-f]{64}$`),
    );
  });

  it("diffs two images: the added layer and the changed, added and removed labels", async () => {
    const [newer, , older] = await readOciSource({ registry: registry.url, repository: NAME, tagPattern: "*" });
    const diff = diffImages(older, newer);
    const inspectedNewer = await skopeoInspect(registry, `${NAME}:41.2`);
    const newerLayers = inspectedNewer.Layers as string[];
    expect(newerLayers).toHaveLength(2);
    expect(diff.layersAdded.map((l) => l.digest)).toEqual([newerLayers[1]]);
    expect(diff.layersKept.map((l) => l.digest)).toEqual([newerLayers[0]]);
    expect(diff.layersRemoved).toEqual([]);
    expect(diff.sizeDelta).toBe(newer.layers[1].size);
    expect(diff.labelsChanged).toEqual({
      "org.opencontainers.image.version": { from: "41.1", to: "41.2" },
      "org.opencontainers.image.title": { from: "ExampleOS 41.1", to: "ExampleOS 41.2" },
    });
    expect(diff.labelsAdded).toEqual({ "com.example.extra": "yes" });
    expect(diff.labelsRemoved).toEqual({});
  });

  it("takes the platform's image from a manifest list: its digest is what bootc reports, the list's is kept aside", async () => {
    const [image] = await readOciSource({ registry: registry.url, repository: "exampleos/multi", tag: "41" });
    const index = (await skopeoInspect(registry, "exampleos/multi:41", { raw: true })) as {
      mediaType: string;
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    const amd64 = index.manifests.find((m) => m.platform.architecture === "amd64");
    const head = await fetch(`${registry.url}/v2/exampleos/multi/manifests/41`, {
      method: "HEAD",
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    expect(image.digest).toBe(amd64?.digest);
    expect(image.digest).toBe((await layout.descriptor("v1")).digest);
    expect(image.indexDigest).toBe(head.headers.get("docker-content-digest"));
    expect(image.indexDigest).not.toBe(image.digest);
    expect(image.version).toBe("41.1");
    // skopeo names the list by the tag's digest, and reads the labels and layers of this machine's platform (amd64)
    const inspected = await skopeoInspect(registry, "exampleos/multi:41");
    expect(inspected.Digest).toBe(image.indexDigest);
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.digest));
    expect(inspected.Labels).toEqual(image.labels);

    const [arm] = await readOciSource({ registry: registry.url, repository: "exampleos/multi", tag: "41", platform: "linux/arm64" });
    expect(arm.digest).toBe((await layout.descriptor("arm")).digest);
    expect(arm.version).toBe("41.1-arm");

    const error = await readError(readOciSource({ registry: registry.url, repository: "exampleos/multi", tag: "41", platform: "linux/s390x" }));
    expect(error.message).toBe("the manifest list of exampleos/multi:41 has no linux/s390x image (it has linux/arm64, linux/amd64)");
    const skipped: string[] = [];
    expect(
      await readOciSource(
        { registry: registry.url, repository: "exampleos/multi", tagPattern: "*", platform: "linux/s390x" },
        { onSkippedTag: (tag) => skipped.push(tag) },
      ),
    ).toEqual([]);
    expect(skipped).toEqual(["41"]);
  });

  it("says clearly what is wrong: no such repository, no such tag, nothing listening, bad configuration", async () => {
    const noRepo = await readError(readOciSource({ registry: registry.url, repository: "nope/nothing", tagPattern: "*" }));
    expect(noRepo.message).toBe(`repository nope/nothing not found on ${registry.url}`);
    expect(noRepo.kind).toBe("not_found");
    const noTag = await readError(readOciSource({ registry: registry.url, repository: NAME, tag: "40" }));
    expect(noTag.message).toBe(`tag 40 not found in ${NAME}`);
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    stops.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          silent.close(() => resolve());
        }),
    );
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const slow = await readError(readOciSource({ registry: silentUrl, repository: NAME, tag: "41.1" }, { timeoutMs: 500 }));
    expect(slow.message).toBe(`registry ${silentUrl} did not answer within 1 s`);
    expect(slow.kind).toBe("unreachable");
    const cancelled = await readError(readOciSource({ registry: silentUrl, repository: NAME, tag: "41.1" }, { signal: AbortSignal.abort() }));
    expect(cancelled.kind).toBe("aborted");
    const port = await freePort();
    const down = await readError(readOciSource({ registry: `http://127.0.0.1:${port}`, repository: NAME, tag: "41.1" }));
    expect(down.message).toBe(`registry http://127.0.0.1:${port} is unreachable: ECONNREFUSED`);
    expect(down.kind).toBe("unreachable");
    await expect(readOciSource({ registry: registry.url, repository: NAME })).rejects.toThrow("tag: give exactly one of tag and tagPattern");
    await expect(readOciSource({ registry: "ftp://x", repository: NAME, tag: "1" })).rejects.toThrow(/^registry: expected the registry's http\(s\) URL/);
    await expect(readOciSource({ registry: registry.url, repository: "Example/OS", tag: "1" })).rejects.toThrow(/^repository: /);
    await expect(readOciSource({ registry: registry.url, repository: NAME, tag: "1", publicKey: "nope" })).rejects.toThrow(/^publicKey: /);
  });
});

describe("a registry with token auth", () => {
  let tokens: TokenServer;
  let secured: Registry;
  const creds = { username: "ci", password: "s3cret" };

  beforeAll(async () => {
    tokens = await startTokenServer(path.join(dir, "token"), { [creds.username]: creds.password, renewer: "pw2" });
    stops.push(tokens.stop);
    secured = await startRegistry(path.join(dir, "secured"), {
      kind: "token",
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertBundle: tokens.rootCertBundle,
    });
    stops.push(secured.stop);
    await layout.push("v1", secured, NAME, "41.1", { creds: `${creds.username}:${creds.password}` });
    await layout.push("v2", secured, NAME, "41.2", { creds: `${creds.username}:${creds.password}` });
  });

  it("answers the bearer challenge: a token for repository:NAME:pull from the realm, with the credentials, reused until it expires", async () => {
    const challenge = await fetch(`${secured.url}/v2/${NAME}/tags/list`);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get("www-authenticate")).toContain(`realm="${tokens.realm}"`);
    tokens.requests.length = 0;
    const images = await readOciSource({ registry: secured.url, repository: NAME, tagPattern: "41.*", ...creds });
    expect(images.map((i) => i.version)).toEqual(["41.2", "41.1"]);
    expect(tokens.requests).toEqual([{ service: tokens.service, scopes: [`repository:${NAME}:pull`], user: "ci" }]);
    await readOciSource({ registry: secured.url, repository: NAME, tag: "41.1", ...creds });
    expect(tokens.requests).toHaveLength(1);
    expect(images[0].digest).toBe((await skopeoInspect(secured, `${NAME}:41.2`, { creds: `${creds.username}:${creds.password}` })).Digest);
  });

  it("asks for a new token once when the registry refuses the one it holds", async () => {
    const renewer = { username: "renewer", password: "pw2" };
    tokens.requests.length = 0;
    tokens.expireNextToken = true; // the first token is expired for the registry although expires_in says 300 s
    const [image] = await readOciSource({ registry: secured.url, repository: NAME, tag: "41.2", ...renewer });
    expect(image.version).toBe("41.2");
    expect(tokens.requests.map((r) => r.user)).toEqual(["renewer", "renewer"]);
    await readOciSource({ registry: secured.url, repository: NAME, tag: "41.1", ...renewer });
    expect(tokens.requests).toHaveLength(2);
  });

  it("wrong or missing credentials: a sentence naming the repository", async () => {
    const wrong = await readError(readOciSource({ registry: secured.url, repository: NAME, tag: "41.1", username: "ci", password: "wrong" }));
    expect(wrong.message).toBe(`registry refused the credentials for ${NAME}`);
    expect(wrong.kind).toBe("credentials");
    const none = await readError(readOciSource({ registry: secured.url, repository: NAME, tag: "41.1" }));
    expect(none.message).toBe(`registry requires credentials for ${NAME} and none are configured`);
  });
});

describe("a registry with htpasswd Basic auth", () => {
  let basic: Registry;

  beforeAll(async () => {
    const file = path.join(dir, "htpasswd");
    await writeHtpasswd(file, { reader: "pa55word" });
    basic = await startRegistry(path.join(dir, "basic"), { kind: "htpasswd", path: file });
    stops.push(basic.stop);
    await layout.push("v1", basic, NAME, "41.1", { creds: "reader:pa55word" });
  });

  it("sends the credentials after the Basic challenge; refuses wrong ones with the sentence", async () => {
    const [image] = await readOciSource({ registry: basic.url, repository: NAME, tag: "41.1", username: "reader", password: "pa55word" });
    expect(image.digest).toBe((await layout.descriptor("v1")).digest);
    const wrong = await readError(readOciSource({ registry: basic.url, repository: NAME, tag: "41.1", username: "reader", password: "nope" }));
    expect(wrong.message).toBe(`registry refused the credentials for ${NAME}`);
    const none = await readError(readOciSource({ registry: basic.url, repository: NAME, tag: "41.1" }));
    expect(none.message).toBe(`registry requires credentials for ${NAME} and none are configured`);
  });
});

describe("cosign signatures", () => {
  const key = signingKey();
  const otherKey = signingKey();
  let signed: Registry;
  let images: FoundImage[];

  beforeAll(async () => {
    signed = await startRegistry(path.join(dir, "signed"));
    stops.push(signed.stop);
    await layout.push("v1", signed, NAME, "41.1");
    await layout.push("v2", signed, NAME, "41.2");
    await layout.push("v3", signed, NAME, "stable-1");
    await layout.push("arm", signed, NAME, "other-repo");
    const v1 = (await layout.descriptor("v1")).digest;
    const v3 = (await layout.descriptor("v3")).digest;
    const arm = (await layout.descriptor("arm")).digest;
    await pushSignature(path.join(dir, "sig-v1"), signed, NAME, v1, key.privateKey);
    // a signature by the right key, but for another image, stored under stable-1's tag
    await pushSignature(path.join(dir, "sig-v3"), signed, NAME, v3, key.privateKey, { signedDigest: v1 });
    // the right key and digest, but signed for another repository
    await pushSignature(path.join(dir, "sig-arm"), signed, NAME, arm, key.privateKey, { dockerReference: `${signed.host}/someone/else:1` });
    images = await readOciSource({ registry: signed.url, repository: NAME, tagPattern: "*", publicKey: key.publicKeyPem });
  });

  it("the signature tags are not releases", () => {
    expect(images.map((i) => i.tag).sort()).toEqual(["41.1", "41.2", "other-repo", "stable-1"]);
  });

  it("valid with the key that signed; unsigned without a signature; invalid for another digest or repository", () => {
    const byTag = Object.fromEntries(images.map((i) => [i.tag, i.signature]));
    expect(byTag["41.1"]).toEqual({ state: "valid", reason: null });
    expect(byTag["41.2"].state).toBe("unsigned");
    expect(byTag["41.2"].reason).toMatch(/^no signature for sha256:[0-9a-f]{64} \(no tag sha256-[0-9a-f]{64}\.sig\)$/);
    expect(byTag["stable-1"]).toEqual({ state: "invalid", reason: `the signature is for ${images.find((i) => i.tag === "41.1")?.digest}, not for ${images.find((i) => i.tag === "stable-1")?.digest}` });
    expect(byTag["other-repo"]).toEqual({ state: "invalid", reason: `the signature is for repository someone/else, not ${NAME}` });
  });

  it("a manifest list: the platform image's signature counts; a signature of the list alone leaves it unsigned, with the reason", async () => {
    await layout.push("multi", signed, "exampleos/multi", "41", { all: true });
    const [before] = await readOciSource({ registry: signed.url, repository: "exampleos/multi", tag: "41", publicKey: key.publicKeyPem });
    expect(before.signature.state).toBe("unsigned");
    const indexDigest = before.indexDigest ?? "";
    await pushSignature(path.join(dir, "sig-index"), signed, "exampleos/multi", indexDigest, key.privateKey);
    const [listOnly] = await readOciSource({ registry: signed.url, repository: "exampleos/multi", tag: "41", publicKey: key.publicKeyPem });
    expect(listOnly.signature).toEqual({
      state: "unsigned",
      reason: `no signature for ${before.digest}, the linux/amd64 image machines switch to; only its manifest list ${indexDigest} is signed (sign with cosign sign --recursive)`,
    });
    await pushSignature(path.join(dir, "sig-platform"), signed, "exampleos/multi", before.digest, key.privateKey);
    const [both] = await readOciSource({ registry: signed.url, repository: "exampleos/multi", tag: "41", publicKey: key.publicKeyPem });
    expect(both.signature).toEqual({ state: "valid", reason: null });
  });

  it("invalid with another key; not checked without one", async () => {
    const [withOther] = await readOciSource({ registry: signed.url, repository: NAME, tag: "41.1", publicKey: otherKey.publicKeyPem });
    expect(withOther.signature).toEqual({ state: "invalid", reason: "the signature does not verify with the source's public key" });
    const [unchecked] = await readOciSource({ registry: signed.url, repository: NAME, tag: "41.1" });
    expect(unchecked.signature).toEqual({ state: "not_checked", reason: null });
  });
});
