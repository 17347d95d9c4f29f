// docker-compose.yml and the Dockerfile as Docker would read them, as far as
// the tests need and without Docker: the compose file with its anchors merged
// and its ${…} variables interpolated, and the image's environment, user,
// command and folders (made by RUN mkdir, owned through RUN chown).
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";

export const repoRoot = path.resolve(import.meta.dirname, "../..");

export interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { disable?: boolean; test?: string[] };
  networks?: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: { default?: { ipam?: { config?: { subnet: string }[] } } };
}

/**
 * Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default},
 * ${VAR:?message}, ${VAR?message}, from `env`; a required one unset throws,
 * as `docker compose` refuses the file.
 */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])((?:[^{}]|\{[^{}]*\})*))?\}/g, (_all, name: string, colon: string, kind: string, rest: string) => {
    const value = env[name];
    const missing = value === undefined || (colon === ":" && value === "");
    if (!missing) return value;
    if (kind === "?") throw new Error(`${name} is required: ${rest}`);
    if (kind === "-") return interpolate(rest, env);
    return "";
  });
}

/** docker-compose.yml with its variables taken from `env`. */
export function readCompose(env: Record<string, string | undefined>): ComposeFile {
  const text = fs.readFileSync(path.join(repoRoot, "docker-compose.yml"), "utf8");
  return parse(interpolate(text, env), { merge: true }) as ComposeFile;
}

/** The comment lines at the top of docker-compose.yml, without their "#". */
export function composeHeader(): string[] {
  const lines = fs.readFileSync(path.join(repoRoot, "docker-compose.yml"), "utf8").split("\n");
  const header: string[] = [];
  for (const line of lines) {
    if (!line.startsWith("#")) break;
    header.push(line.replace(/^#\s?/, ""));
  }
  return header;
}

/** What the user exports before `docker compose up` (the file's header says how), with values of the tests'. */
export const COMPOSE_ENV = {
  ORCHARD_SECRET: "s".repeat(48),
  ORCHARD_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
};

/**
 * The documented `docker compose exec … console-1 node bin/orchard.js enroll-token create …`
 * from the file's header: the variables its -e flags set, its exec flags, and the command line's arguments.
 */
export function documentedTokenCommand(): { env: Record<string, string>; execFlags: string[]; service: string; args: string[] } {
  const line = composeHeader().find((l) => l.includes("enroll-token create"));
  if (!line) throw new Error("docker-compose.yml documents no enroll-token create");
  const exec = line.slice(line.indexOf("docker compose exec") + "docker compose exec".length, line.indexOf("node bin/orchard.js")).trim().split(/\s+/);
  const service = exec.at(-1)!;
  const execFlags = exec.slice(0, -1);
  const env: Record<string, string> = {};
  execFlags.forEach((word, i) => {
    if (execFlags[i - 1] === "-e") env[word.slice(0, word.indexOf("="))] = word.slice(word.indexOf("=") + 1);
  });
  const command = line.slice(line.indexOf("bin/orchard.js") + "bin/orchard.js".length, line.indexOf("|")).trim();
  return { env, execFlags, service, args: command.split(/\s+/) };
}

/** The value after `name` in a command line. */
export function flag(command: string[], name: string) {
  const at = command.indexOf(name);
  return at >= 0 ? command[at + 1] : undefined;
}

export interface Image {
  env: Record<string, string>;
  /** The user the container runs as (the last USER). */
  user: string | null;
  workdir: string;
  cmd: string[];
  /** Folders the RUN lines make (mkdir). */
  made: Set<string>;
  /** Owner of each folder given by the RUN lines (chown; -R covers what is below). */
  owners: { path: string; user: string; recursive: boolean }[];
}

/** Splits a shell command line into words (no expansions; quotes removed). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The Dockerfile's instructions that decide what a container sees. */
export function readDockerfile(): Image {
  const text = fs.readFileSync(path.join(repoRoot, "Dockerfile"), "utf8");
  const instructions = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const image: Image = { env: {}, user: null, workdir: "/", cmd: [], made: new Set(), owners: [] };
  for (const line of instructions) {
    const [keyword, ...restWords] = line.split(/\s+/);
    const rest = line.slice(keyword.length).trim();
    switch (keyword.toUpperCase()) {
      case "ENV":
        for (const word of words(rest)) {
          const at = word.indexOf("=");
          if (at > 0) image.env[word.slice(0, at)] = word.slice(at + 1);
        }
        break;
      case "USER":
        image.user = restWords[0].split(":")[0];
        break;
      case "WORKDIR":
        image.workdir = path.posix.resolve(image.workdir, rest);
        image.made.add(image.workdir);
        break;
      case "CMD":
        image.cmd = JSON.parse(rest) as string[];
        break;
      case "RUN":
        for (const command of rest.split(/&&|;/).map((c) => words(c.trim()))) {
          if (command[0] === "mkdir") {
            for (const arg of command.slice(1).filter((a) => !a.startsWith("-"))) {
              for (let dir = arg; dir !== "/"; dir = path.posix.dirname(dir)) image.made.add(dir);
            }
          } else if (command[0] === "chown") {
            const args = command.slice(1);
            const recursive = args.includes("-R");
            const [owner, ...paths] = args.filter((a) => !a.startsWith("-"));
            for (const p of paths) image.owners.push({ path: p, user: owner.split(":")[0], recursive });
          }
        }
        break;
    }
  }
  return image;
}

/** Who owns `folder` in the image: the last chown that reaches it, else root. */
export function ownerOf(image: Image, folder: string): string {
  let owner = "root";
  for (const given of image.owners) {
    if (given.path === folder || (given.recursive && folder.startsWith(`${given.path}/`))) owner = given.user;
  }
  return owner;
}

/** A volume entry: named volume or bind mount (a path), where it is mounted, and whether read-only. */
export function mountOf(entry: string): { source: string; target: string; bind: boolean; readOnly: boolean } {
  const [source, target, mode] = entry.split(":");
  return { source, target, bind: source.startsWith(".") || source.startsWith("/"), readOnly: mode === "ro" };
}

/** Whether the build context leaves `file` out of the image (.dockerignore, its plain patterns). */
export function dockerIgnores(file: string): boolean {
  const ignore = path.join(repoRoot, ".dockerignore");
  if (!fs.existsSync(ignore)) return false;
  const patterns = fs.readFileSync(ignore, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}(/|$)`);
    return regex.test(file);
  });
}
