// Debian's stock SWUpdate as a DDI device in tests: a signing certificate
// (emailProtection, as SWUpdate checks its purpose), signed `.swu` files
// (cpio -H crc of sw-description, its CMS signature and a plain file that a
// `files:` entry installs into a folder), and `swupdate -u "…"` processes
// (suricatta) pointed at the console, each with its own folder for its
// sockets and its output kept for the test to read.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface SigningKey {
  key: string;
  cert: string;
}

/** A self-signed certificate for signing `.swu` files, with the purpose SWUpdate checks by default. */
export function signingKey(dir: string): SigningKey {
  const key = path.join(dir, "swu-key.pem");
  const cert = path.join(dir, "swu-cert.pem");
  const conf = path.join(dir, "swu-cert.cnf");
  fs.writeFileSync(
    conf,
    ["[req]", "distinguished_name = dn", "x509_extensions = ext", "prompt = no", "[dn]", "CN = orchard-test-signer", "[ext]", "extendedKeyUsage = emailProtection", "keyUsage = digitalSignature", ""].join("\n"),
  );
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-config", conf], { stdio: "pipe" });
  return { key, cert };
}

/**
 * A signed `.swu` that installs `content` as `installDir/payload.txt`
 * (hardware-compatible with board revision 1.0). `wrongHash` declares a
 * sha256 that is not the payload's: SWUpdate refuses it while installing.
 */
export function buildSwu(dir: string, signer: SigningKey, options: { version: string; content: string; installDir: string; wrongHash?: boolean }): { path: string; sha256: string } {
  const work = fs.mkdtempSync(path.join(dir, "swu-"));
  fs.writeFileSync(path.join(work, "payload.txt"), options.content);
  const payloadHash = createHash("sha256").update(options.content).digest("hex");
  const declared = options.wrongHash ? createHash("sha256").update(`not ${options.content}`).digest("hex") : payloadHash;
  const description = `software =
{
  version = "${options.version}";
  description = "Orchard test update ${options.version}";
  hardware-compatibility: [ "1.0" ];
  files: (
    {
      filename = "payload.txt";
      path = "${path.join(options.installDir, "payload.txt")}";
      sha256 = "${declared}";
    }
  );
}
`;
  fs.writeFileSync(path.join(work, "sw-description"), description);
  execFileSync(
    "openssl",
    ["cms", "-sign", "-in", "sw-description", "-out", "sw-description.sig", "-signer", signer.cert, "-inkey", signer.key, "-outform", "DER", "-nosmimecap", "-binary"],
    { cwd: work, stdio: "pipe" },
  );
  const out = path.join(dir, `update-${options.version}${options.wrongHash ? "-bad" : ""}.swu`);
  execFileSync("sh", ["-c", `printf 'sw-description\\nsw-description.sig\\npayload.txt\\n' | cpio -o -H crc --quiet > '${out}'`], { cwd: work, stdio: "pipe" });
  fs.rmSync(work, { recursive: true, force: true });
  return { path: out, sha256: createHash("sha256").update(fs.readFileSync(out)).digest("hex") };
}

export interface SwupdateDevice {
  id: string;
  /** Where its `.swu` installs payload.txt. */
  installDir: string;
  output: () => string;
  /** Stops it (SIGTERM, then SIGKILL) and waits for its exit. */
  stop: () => Promise<void>;
  exited: () => boolean;
}

/**
 * Starts `swupdate` as DDI device `id` against `url` (the console's `/ddi`).
 * `confirm` 2 reports the installed update as a success after its restart
 * (`-c 2`), as a device's start-up does once it booted the new software.
 */
export function startSwupdate(options: {
  dir: string;
  url: string;
  id: string;
  tenant?: string;
  cert: string;
  token: { gateway: string } | { target: string };
  pollSeconds?: number;
  confirm?: 2 | 3;
  /** Its download speed limit (`-n`), such as "200k": a download slow enough to be cancelled halfway. */
  maxDownloadSpeed?: string;
  /** Attributes for swupdate.cfg's `identify` section: the client PUTs them as configData. */
  identify?: Record<string, string>;
}): SwupdateDevice {
  const home = path.join(options.dir, options.id);
  const installDir = path.join(home, "installed");
  const run = path.join(home, "run");
  fs.mkdirSync(installDir, { recursive: true });
  fs.mkdirSync(run, { recursive: true });
  const auth = "gateway" in options.token ? ["-g", options.token.gateway] : ["-k", options.token.target];
  const suricatta = ["-t", options.tenant ?? "DEFAULT", "-u", options.url, "-i", options.id, ...auth, "-p", String(options.pollSeconds ?? 1), ...(options.confirm ? ["-c", String(options.confirm)] : []), ...(options.maxDownloadSpeed ? ["-n", options.maxDownloadSpeed] : [])];
  const config: string[] = [];
  if (options.identify) {
    // SWUpdate reads `identify` only from a configuration file, which needs its `globals` section too.
    const cfg = path.join(home, "swupdate.cfg");
    const entries = Object.entries(options.identify).map(([name, value]) => `  { name = "${name}"; value = "${value}"; }`);
    fs.writeFileSync(cfg, `globals :\n{\n  verbose = true;\n};\n\nidentify : (\n${entries.join(",\n")}\n);\n`);
    config.push("-f", cfg);
  }
  const child: ChildProcess = spawn("swupdate", [...config, "-v", "-H", "board:1.0", "-k", options.cert, "-u", suricatta.join(" ")], {
    cwd: home,
    // Its sockets (sockinstctrl, swupdateprog) go to TMPDIR: one folder per device, so that several run at once.
    env: { ...process.env, TMPDIR: run, HOME: home, RUNTIME_DIRECTORY: run },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const keep = (chunk: Buffer) => {
    text += chunk.toString("utf8");
    if (text.length > 2_000_000) text = text.slice(-1_000_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let exited = false;
  const done = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  return {
    id: options.id,
    installDir,
    output: () => text,
    exited: () => exited,
    stop: async () => {
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** A folder for the devices of one test run. */
export function devicesDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "orch-swu-"));
}
