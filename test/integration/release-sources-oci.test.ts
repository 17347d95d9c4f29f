// Release sources of the OCI kind, with real parts: Debian's docker-registry
// behind htpasswd credentials, images built with umoci and pushed with skopeo,
// a cosign-format signature pushed with skopeo, and the console's sync turning
// each new image into a release (the manifest digest, the version label),
// sendable or not by its signature, with the password never shown or audited.
import { createHash, createPublicKey } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { addSource, getSource, REGISTRY_PASSWORD_PURPOSE, syncSources } from "../../server/release-sources/sources";
import { sealStoredSecrets } from "../../server/sealing";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { Layout, pushSignature, type Registry, requireTools, signingKey, skopeoInspect, startRegistry, writeHtpasswd } from "../helpers/oci-registry";

const BRANCH = "quay.io/example/os";
const NAME = "example/os";

describe("OCI release sources", () => {
  let dir: string;
  let app: TestConsole;
  let registry: Registry;
  let layout: Layout;
  const key = signingKey();
  const creds = "ci:s3cret-registry-password";

  const release = (version: string) =>
    app.db.prisma.release.findFirst({
      where: { version, branch: { ref: BRANCH } },
      select: { checksum: true, version: true, builtAt: true, subject: true, metadata: true, signatureState: true, signatureReason: true },
    });

  beforeAll(async () => {
    await requireTools("docker-registry", "skopeo", "umoci");
    dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-oci-src-"));
    const htpasswd = path.join(dir, "htpasswd");
    await writeHtpasswd(htpasswd, { ci: "s3cret-registry-password" });
    registry = await startRegistry(path.join(dir, "registry"), { kind: "htpasswd", path: htpasswd });
    layout = await Layout.create(path.join(dir, "layout"));
    app = await startTestConsole({});
    await createRing(app.db.prisma, cliActor, { name: "bootc", branch: BRANCH });
  });

  afterAll(async () => {
    await app?.stop();
    await registry?.stop();
  });

  it("turns each new image into a release: digest, version label, built time; signed with the key → sendable, unsigned → refused", async () => {
    await layout.build("41.1", "empty", { "usr/lib/os-release": "ID=exampleos\nVERSION_ID=41.1\n" }, {
      labels: { "org.opencontainers.image.version": "41.1", "org.opencontainers.image.title": "ExampleOS 41.1" },
      created: "2026-11-20T10:00:00Z",
    });
    await layout.push("41.1", registry, NAME, "41.1", { creds });
    const digest = String((await skopeoInspect(registry, `${NAME}:41.1`, { creds })).Digest);
    await pushSignature(path.join(dir, "sig-41.1"), registry, NAME, digest, key.privateKey, { creds });

    await addSource(app.db.prisma, cliActor, {
      name: "example-os",
      branch: BRANCH,
      config: { kind: "oci", registry: registry.url, repository: NAME, tagPattern: "41.*", username: "ci", password: "s3cret-registry-password", publicKey: key.publicKeyPem },
      enabled: false,
    }, { secrets: app.secretBox });
    const [first] = await syncSources(app.db.prisma, { source: "example-os" }, { secrets: app.secretBox });
    expect(first).toMatchObject({ ok: true, created: ["41.1"] });
    const r1 = await release("41.1");
    expect(r1).toMatchObject({
      checksum: digest.slice("sha256:".length),
      subject: "ExampleOS 41.1",
      signatureState: "valid",
      builtAt: new Date("2026-11-20T10:00:00Z"),
    });
    expect(r1!.metadata).toMatchObject({ digest, tags: ["41.1"] });
    await setRingRelease(app.db.prisma, cliActor, { ring: "bootc", version: "41.1" });

    // A second image, not signed: a release that no ring may be sent to.
    await layout.build("41.2", "41.1", { "usr/share/motd": "41.2\n" }, { labels: { "org.opencontainers.image.version": "41.2" } });
    await layout.push("41.2", registry, NAME, "41.2", { creds });
    const [second] = await syncSources(app.db.prisma, { source: "example-os" }, { secrets: app.secretBox });
    expect(second).toMatchObject({ ok: true, created: ["41.2"] });
    expect(await release("41.2")).toMatchObject({ signatureState: "unsigned", signatureReason: expect.stringMatching(/signature/) });
    await expect(setRingRelease(app.db.prisma, cliActor, { ring: "bootc", version: "41.2" })).rejects.toMatchObject({ field: "version" });

    // Idempotent: nothing new, nothing stored twice.
    const [third] = await syncSources(app.db.prisma, { source: "example-os" }, { secrets: app.secretBox });
    expect(third).toMatchObject({ ok: true, created: [] });
    expect(await app.db.prisma.release.count({ where: { branch: { ref: BRANCH } } })).toBe(2);
  });

  it("keeps the registry password sealed in the database; one stored in clear is sealed at start and still logs in", async () => {
    const stored = await app.db.prisma.$queryRaw<{ password: string }[]>`SELECT config ->> 'password' AS password FROM release_sources WHERE name = 'example-os'`;
    expect(stored[0].password).toMatch(/^orchsec1\./);
    expect(JSON.stringify(await app.db.prisma.releaseSource.findMany())).not.toContain("s3cret-registry-password");
    expect(app.secretBox.open(stored[0].password, REGISTRY_PASSWORD_PURPOSE)).toBe("s3cret-registry-password");
    // Sealed for this use only: it does not open as another secret.
    expect(() => app.secretBox.open(stored[0].password, "webhook-signing-secret")).toThrow(/altered/);

    // A source stored before passwords were sealed: the start seals it, and it reads the registry as before.
    await app.db.prisma.$executeRaw`UPDATE release_sources SET config = jsonb_set(config, '{password}', '"s3cret-registry-password"') WHERE name = 'example-os'`;
    expect(await sealStoredSecrets(app.db.prisma, app.secretBox)).toMatchObject({ registryPasswords: 1 });
    const resealed = await app.db.prisma.$queryRaw<{ password: string }[]>`SELECT config ->> 'password' AS password FROM release_sources WHERE name = 'example-os'`;
    expect(resealed[0].password).toMatch(/^orchsec1\./);
    expect(await sealStoredSecrets(app.db.prisma, app.secretBox)).toMatchObject({ registryPasswords: 0 });
    const [pass] = await syncSources(app.db.prisma, { source: "example-os" }, { secrets: app.secretBox });
    expect(pass).toMatchObject({ ok: true, created: [] });
  });

  it("never shows nor audits the registry password, and says why a refused login fails", async () => {
    const shown = await getSource(app.db.prisma, { source: "example-os" });
    expect(JSON.stringify(shown)).not.toContain("s3cret-registry-password");
    expect(shown).toMatchObject({ kind: "oci", url: registry.url, ref: `${NAME}:41.*`, key: { type: "cosign" }, config: { hasPassword: true } });
    // The key is told by its fingerprint (SHA-256 of its DER), not by the start every P-256 key's PEM shares.
    const der = createPublicKey(key.publicKeyPem).export({ type: "spki", format: "der" });
    expect(shown.key!.summary).toBe(`sha256:${createHash("sha256").update(der).digest("hex").slice(0, 16)}`);
    const audit = await app.db.prisma.auditLog.findMany({ where: { targetType: "release-source" } });
    expect(audit.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit)).not.toContain("s3cret-registry-password");

    await addSource(app.db.prisma, cliActor, {
      name: "wrong-password",
      branch: BRANCH,
      config: { kind: "oci", registry: registry.url, repository: NAME, tag: "41.1", username: "ci", password: "not-it" },
      enabled: false,
    }, { secrets: app.secretBox });
    const [failed] = await syncSources(app.db.prisma, { source: "wrong-password" }, { secrets: app.secretBox });
    expect(failed).toMatchObject({ ok: false, error: expect.stringMatching(/refused the credentials/) });
    expect(await getSource(app.db.prisma, { source: "wrong-password" })).toMatchObject({ lastError: expect.stringMatching(/refused the credentials/), consecutiveFailures: 1 });
  });

  // The domain throws zod's error; tRPC and the REST API answer it with the field (its path).
  it("refuses a bad registry config naming the field, and stores nothing", async () => {
    const before = await app.db.prisma.releaseSource.count();
    await expect(
      addSource(app.db.prisma, cliActor, { name: "bad", branch: BRANCH, config: { kind: "oci", registry: registry.url, repository: NAME } as never }),
    ).rejects.toMatchObject({ issues: [expect.objectContaining({ path: ["config", "tag"] })] });
    await expect(
      addSource(app.db.prisma, cliActor, { name: "bad", branch: BRANCH, config: { kind: "oci", registry: "ftp://x", repository: NAME, tag: "1" } as never }),
    ).rejects.toMatchObject({ issues: [expect.objectContaining({ path: ["config", "registry"] })] });
    expect(await app.db.prisma.releaseSource.count()).toBe(before);
  });
});
