// `ostree admin status`, read line by line. Debian's ostree (2022.7) has no
// --json, so this is the text format of ot-admin-builtin-status.c: one
// header line per deployment, in boot order,
//   `* exampleos 3f0c…e1.0 (pending)`  (`*` marks the booted one; then
//   `(staged)`, `(pending)` or `(rollback)`, or nothing),
// then indented detail lines (`Version:`, `Pinned: yes`, `Unlocked:`,
// `origin refspec:`, `GPG:`, a source title…), of which unknown ones are
// skipped. Newer versions add tags (`(finalization locked)`): also skipped.

export interface OstreeDeployment {
  osname: string;
  checksum: string;
  serial: number;
  booted: boolean;
  /** `(staged)`: finalized at shutdown. */
  staged: boolean;
  /** `(pending)`: the default for the next boot, not booted yet. */
  pending: boolean;
  rollback: boolean;
  pinned: boolean;
  version: string | null;
  /** `remote:ref`, or a bare ref or checksum; null when the origin is not a refspec (e.g. a container image). */
  refspec: string | null;
}

const HEADER = /^([* ]) (\S+) ([0-9a-f]{64})\.(\d+)((?: \([^)]*\))*)\s*$/;
const DETAIL = /^\s+([A-Za-z][\w -]*?):\s?(.*)$/;

export function parseAdminStatus(text: string): OstreeDeployment[] {
  const deployments: OstreeDeployment[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.trim() === "No deployments.") continue;
    const header = HEADER.exec(line);
    if (header) {
      const [, mark, osname, checksum, serial, tagText] = header;
      const tags = [...tagText.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]);
      deployments.push({
        osname,
        checksum,
        serial: Number(serial),
        booted: mark === "*",
        staged: tags.includes("staged"),
        pending: tags.includes("pending"),
        rollback: tags.includes("rollback"),
        pinned: false,
        version: null,
        refspec: null,
      });
      continue;
    }
    const current = deployments.at(-1);
    if (!current || !/^\s/.test(line)) throw new Error(`ostree admin status: cannot read the line "${line}"`);
    const detail = DETAIL.exec(line);
    if (!detail) continue;
    const [, key, value] = detail;
    if (key === "Version") current.version = value.trim();
    else if (key === "Pinned") current.pinned = value.trim() === "yes";
    else if (key === "origin refspec") current.refspec = value.trim();
  }
  return deployments;
}

/** `remote:ref` → its parts; a refspec without a remote is a local ref. */
export function splitRefspec(refspec: string): { remote: string | null; ref: string } {
  const at = refspec.indexOf(":");
  return at < 0 ? { remote: null, ref: refspec } : { remote: refspec.slice(0, at), ref: refspec.slice(at + 1) };
}

/** `ostree show` prints `Date:  2026-11-20 10:00:00 +0000`: the commit's timestamp. */
export function parseCommitDate(showOutput: string): Date {
  const match = /^Date:\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)$/m.exec(showOutput);
  if (!match) throw new Error("ostree show: no Date line");
  const [, day, time, hours, minutes] = match;
  return new Date(`${day}T${time}${hours}:${minutes}`);
}

/** The Features list of `ostree --version` (e.g. gpgme, sign-ed25519). */
export function parseFeatures(versionOutput: string): string[] {
  return [...versionOutput.matchAll(/^\s+- (\S+)\s*$/gm)].map((m) => m[1]);
}
