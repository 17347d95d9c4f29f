// A real ostree repository for tests: made and committed to with the `ostree`
// command, served over HTTP by a node:http static server (which can be told
// to fail), its commits signed with ed25519 keys in ostree's own format
// (base64 of the 64-byte secret, of the 32-byte public key) or with GPG by
// `ostree gpg-sign`.
//
// Debian's ostree 2022.7 is built without ed25519 (`ostree sign` answers
// "Requested signature type is not implemented"), so an ed25519 signature is
// written as libostree's ed25519 signer writes it: the detached metadata
// (`<checksum>.commitmeta`, a GVariant a{sv}) gets `ostree.sign.ed25519`, an
// array of 64-byte signatures over the commit object. `ostree show
// --print-detached-metadata-key` reads it back.
import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { decode, encode } from "../../server/release-sources/gvariant";

export function run(command: string, args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): string {
  return execFileSync(command, args, { encoding: "utf8", env: { ...process.env, ...options.env }, input: options.input, cwd: options.cwd, stdio: "pipe" });
}

export interface Ed25519Keys {
  /** base64 of the 32-byte public key, as `ostree sign --verify` takes it. */
  publicKey: string;
  /** base64 of the 64-byte secret key (seed and public key), as `ostree sign --keys-file` reads it. */
  secretKey: string;
}

export function ed25519Keys(dir?: string, name = "key"): Ed25519Keys {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const pub = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
  const keys = { publicKey: pub.toString("base64"), secretKey: Buffer.concat([seed, pub]).toString("base64") };
  if (dir) {
    fs.writeFileSync(path.join(dir, `${name}.secret`), `${keys.secretKey}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, `${name}.pub`), `${keys.publicKey}\n`);
  }
  return keys;
}

export class TestRepo {
  server: http.Server | null = null;
  /** Answer every request with 500 while true. */
  failing = false;
  url = "";

  constructor(readonly dir: string) {}

  static create(dir: string): TestRepo {
    fs.mkdirSync(dir, { recursive: true });
    run("ostree", ["init", `--repo=${dir}`, "--mode=archive"]);
    return new TestRepo(dir);
  }

  async serve(): Promise<string> {
    this.server = http.createServer((req, res) => {
      if (this.failing) {
        res.writeHead(500).end("down for the test\n");
        return;
      }
      const rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const file = path.join(this.dir, path.normalize(rel));
      if (!file.startsWith(this.dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/octet-stream" });
      fs.createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close() {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Commits a small tree to `ref`; returns the checksum. */
  commit(ref: string, options: { version?: string; subject: string; body?: string; treeDir: string }): string {
    fs.mkdirSync(path.join(options.treeDir, "usr/lib"), { recursive: true });
    fs.writeFileSync(path.join(options.treeDir, "usr/lib/os-release"), `ID=testos\nPRETTY_NAME="Test OS ${options.version ?? ""}"\n`);
    const args = ["commit", `--repo=${this.dir}`, "-b", ref, `--tree=dir=${options.treeDir}`, "-s", options.subject];
    if (options.body) args.push("-m", options.body);
    if (options.version) args.push(`--add-metadata-string=version=${options.version}`);
    return run("ostree", args).trim();
  }

  commitBytes(checksum: string): Buffer {
    return fs.readFileSync(path.join(this.dir, "objects", checksum.slice(0, 2), `${checksum.slice(2)}.commit`));
  }

  /** Signs a commit with ed25519 as libostree does (see the file's head). */
  signEd25519(checksum: string, keys: Ed25519Keys) {
    const secret = Buffer.from(keys.secretKey, "base64");
    const pub = secret.subarray(32);
    const key = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: secret.subarray(0, 32).toString("base64url"), x: pub.toString("base64url") }, format: "jwk" });
    const signature = sign(null, this.commitBytes(checksum), key);
    const file = path.join(this.dir, "objects", checksum.slice(0, 2), `${checksum.slice(2)}.commitmeta`);
    const existing = fs.existsSync(file) ? (decode("a{sv}", fs.readFileSync(file)) as Record<string, { type: string; value: unknown }>) : {};
    const before = (existing["ostree.sign.ed25519"]?.value as Buffer[] | undefined) ?? [];
    existing["ostree.sign.ed25519"] = { type: "aay", value: [...before, signature] };
    fs.writeFileSync(file, encode("a{sv}", existing));
  }

  /** What ostree itself reads back of the commit's ed25519 signatures. */
  shownSignatures(checksum: string): string {
    return run("ostree", ["show", `--repo=${this.dir}`, "--print-detached-metadata-key=ostree.sign.ed25519", checksum]);
  }
}

/** A GPG key in its own home: `gpg --quick-gen-key`, exported armored. */
export function gpgKey(home: string, email: string): { home: string; fingerprint: string; armored: string } {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  run("gpg", ["--batch", "--quiet", "--passphrase", "", "--quick-gen-key", `Test Signer <${email}>`, "ed25519", "sign", "never"], { env });
  const fingerprint = run("gpg", ["--list-keys", "--with-colons"], { env })
    .split("\n")
    .find((line) => line.startsWith("fpr:"))!
    .split(":")[9];
  const armored = run("gpg", ["--armor", "--export", fingerprint], { env });
  return { home, fingerprint, armored };
}
