// docker-compose.yml read as Docker would, without Docker: every volume lands
// on a folder of the image that the container's user owns, every command
// exists in the image, both console replicas have one configuration (the
// console accepts it), HAProxy is the one way in, the agents go through it
// and the enrollment token the file documents puts them in a ring.
// test/integration/haproxy.test.ts runs the HAProxy configuration for real.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema, loadConfig } from "../../server/config";
import { DEMO_FACTORY, DEMO_RINGS } from "../../server/demo/seed";
import {
  COMPOSE_ENV,
  type ComposeService,
  documentedTokenCommand,
  flag,
  dockerIgnores,
  mountOf,
  ownerOf,
  readCompose,
  readDockerfile,
  repoRoot,
} from "../helpers/compose-file";


const compose = readCompose(COMPOSE_ENV);
const image = readDockerfile();
const services = Object.entries(compose.services);
const built = services.filter(([, s]) => s.build !== undefined);
/** The console replicas: services of the image that run its own command. */
const consoles = built.filter(([, s]) => s.command === undefined);
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function dependsOn(service: ComposeService): Record<string, string> {
  const given = service.depends_on ?? [];
  return Array.isArray(given)
    ? Object.fromEntries(given.map((name) => [name, "service_started"]))
    : Object.fromEntries(Object.entries(given).map(([name, d]) => [name, d.condition]));
}

describe("docker-compose.yml", () => {
  it("refuses to start without the secrets the replicas share", () => {
    expect(() => readCompose({ ...COMPOSE_ENV, ORCHARD_ENCRYPTION_KEY: undefined })).toThrow(/ORCHARD_ENCRYPTION_KEY is required/);
    expect(() => readCompose({ ...COMPOSE_ENV, ORCHARD_SECRET: "" })).toThrow(/ORCHARD_SECRET is required/);
  });

  it("mounts every volume of the image on a folder the image has, owned by the user the container runs as", () => {
    expect(image.user).not.toBeNull();
    expect(image.user).not.toBe("root");
    expect(built.length).toBeGreaterThan(0);
    for (const [name, service] of built) {
      for (const entry of service.volumes ?? []) {
        const mount = mountOf(entry);
        expect(mount.bind, `${name}: ${entry} is a named volume`).toBe(false);
        expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${mount.source} is declared`).toContain(mount.source);
        expect(image.made.has(mount.target), `${name}: the image has ${mount.target}`).toBe(true);
        expect(ownerOf(image, mount.target), `${name}: owner of ${mount.target}`).toBe(image.user);
      }
    }
    // Bind mounts (HAProxy's configuration) name files of this repository.
    for (const [name, service] of services) {
      for (const mount of (service.volumes ?? []).map(mountOf).filter((m) => m.bind)) {
        expect(fs.existsSync(path.join(repoRoot, mount.source)), `${name}: ${mount.source} exists`).toBe(true);
        expect(mount.readOnly, `${name}: ${mount.source} is mounted read-only`).toBe(true);
      }
    }
  });

  it("runs commands that exist in the image", () => {
    for (const [name, service] of built) {
      const command = service.command ?? image.cmd;
      expect(command[0], name).toBe("node");
      const imports = command.flatMap((arg, i) => (command[i - 1] === "--import" ? [arg] : []));
      for (const loader of imports) expect({ ...pkg.dependencies, ...pkg.devDependencies }, `${name}: --import ${loader}`).toHaveProperty(loader);
      const script = command.slice(1).find((arg, i, args) => !arg.startsWith("-") && args[i - 1] !== "--import");
      expect(script, `${name}: the script node runs`).toMatch(/\.(ts|js)$/);
      expect(path.posix.isAbsolute(script!), `${name}: ${script} is relative to the image's WORKDIR`).toBe(false);
      expect(fs.existsSync(path.join(repoRoot, script!)), `${name}: ${script} exists`).toBe(true);
      expect(dockerIgnores(script!), `${name}: .dockerignore keeps ${script}`).toBe(false);
    }
    const haproxy = compose.services.haproxy;
    expect(haproxy.command?.[0]).toBe("haproxy");
    const cfg = flag(haproxy.command!, "-f");
    const mounted = (haproxy.volumes ?? []).map(mountOf).find((m) => m.target === cfg);
    expect(mounted?.source, "haproxy -f reads the repository's configuration").toBe("./deploy/haproxy/haproxy.cfg");
  });

  it("runs two console replicas with one configuration that the console accepts", () => {
    expect(consoles.map(([name]) => name).sort()).toEqual(["console-1", "console-2"]);
    const [[, first], [, second]] = consoles;
    expect(second.environment).toEqual(first.environment);
    expect(second.volumes).toEqual(first.volumes);
    expect(second.build).toEqual(first.build);

    // Every variable is one the console knows (a misspelt one would be ignored silently).
    for (const key of Object.keys(first.environment ?? {})) expect(Object.keys(configSchema.shape), key).toContain(key);
    const config = loadConfig({ ...image.env, ...first.environment });
    expect(config.NODE_ENV).toBe("production");
    expect(config.ORCHARD_SECRET).toBe(COMPOSE_ENV.ORCHARD_SECRET);
    expect(config.ORCHARD_ENCRYPTION_KEY).toBe(COMPOSE_ENV.ORCHARD_ENCRYPTION_KEY);
    const postgres = compose.services.postgres;
    expect(postgres.image).toMatch(/^postgres:16/);
    expect(postgres.healthcheck?.test?.join(" ")).toMatch(/pg_isready/);
    expect(dependsOn(first)).toMatchObject({ postgres: "service_healthy" });
    expect(first.healthcheck?.test?.join(" ")).toMatch(/\/healthz/);
    const database = new URL(config.DATABASE_URL!);
    expect(database.hostname).toBe("postgres");
    expect(compose.services.postgres.environment).toMatchObject({
      POSTGRES_USER: decodeURIComponent(database.username),
      POSTGRES_PASSWORD: decodeURIComponent(database.password),
      POSTGRES_DB: database.pathname.slice(1),
    });
    // The data folder is the shared volume (release sources' work folders).
    const data = (first.volumes ?? []).map(mountOf);
    expect(data.map((m) => m.target)).toContain(config.ORCHARD_DATA_DIR);
    // No demo fleet inside the replicas (each would run its own), but the rings the agents join.
    expect(config.ORCHARD_DEMO_AGENTS).toBe(0);
    expect(config.ORCHARD_DEMO_RINGS).toBe(true);
    // X-Forwarded-For is believed from the compose network only, HAProxy's.
    expect(first.environment?.ORCHARD_TRUSTED_PROXIES).toBe(compose.networks?.default?.ipam?.config?.[0]?.subnet);
    // One first start at a time: the second replica waits for the first.
    expect(dependsOn(second)).toMatchObject({ "console-1": "service_healthy", postgres: "service_healthy" });
    for (const [name, service] of consoles) expect(service.ports, `${name} publishes no port`).toBeUndefined();
  });

  it("puts HAProxy, with the repository's configuration, in front of both replicas on the one published port", () => {
    const haproxy = compose.services.haproxy;
    const port = loadConfig({ ...image.env, ...consoles[0][1].environment }).PORT;
    expect(haproxy.environment).toMatchObject({ ORCHARD_CONSOLE_1: `console-1:${port}`, ORCHARD_CONSOLE_2: `console-2:${port}` });
    const bindPort = haproxy.environment!.ORCHARD_HAPROXY_BIND.split(":").at(-1);
    expect(haproxy.ports).toEqual([`3000:${bindPort}`]);
    expect(services.filter(([, s]) => s.ports !== undefined).map(([name]) => name)).toEqual(["haproxy"]);
    const cfg = fs.readFileSync(path.join(repoRoot, "deploy/haproxy/haproxy.cfg"), "utf8");
    expect(cfg).toMatch(/^\s*server console-1 "\$\{ORCHARD_CONSOLE_1-console-1:3000\}"/m);
    expect(cfg).toMatch(/^\s*server console-2 "\$\{ORCHARD_CONSOLE_2-console-2:3000\}"/m);
    expect(cfg).toMatch(/^\s*bind "\$\{ORCHARD_HAPROXY_BIND-:3000\}"/m);
  });

  it("points the agents at HAProxy, with their state on a volume and the demo's factory release", () => {
    const agents = compose.services.agents;
    const command = agents.command!;
    expect(new URL(flag(command, "--server")!)).toMatchObject({
      hostname: "haproxy",
      port: compose.services.haproxy.environment!.ORCHARD_HAPROXY_BIND.split(":").at(-1),
    });
    expect((agents.volumes ?? []).map((v) => mountOf(v).target)).toContain(flag(command, "--state-dir"));
    expect({ ref: flag(command, "--factory-ref"), checksum: flag(command, "--factory-checksum"), version: flag(command, "--factory-version") }).toEqual(DEMO_FACTORY);
    expect(agents.environment).toHaveProperty("ORCHARD_FLEET_TOKEN");
    // The image's health check asks for a console, which this container is not.
    expect(agents.healthcheck?.disable).toBe(true);
  });

  it("documents an enrollment token for a ring the replicas make, on the agents' factory release", () => {
    const { args, execFlags, service } = documentedTokenCommand();
    expect(consoles.map(([name]) => name)).toContain(service);
    expect(args.slice(0, 2)).toEqual(["enroll-token", "create"]);
    const ring = DEMO_RINGS.find((r) => r.name === flag(args, "--ring"));
    expect(ring, `--ring ${flag(args, "--ring")} is a demo ring`).toBeDefined();
    expect(ring!.release).toBe(DEMO_FACTORY.version);
    expect(Number(flag(args, "--uses"))).toBeGreaterThanOrEqual(Number(flag(compose.services.agents.command!, "--agents")));
    // Without a terminal: `exec` with one ends the token with a carriage return.
    expect(execFlags).toContain("-T");
    // Where the first admin's password is: the banner console-1 prints.
    const grep = fs.readFileSync(path.join(repoRoot, "docker-compose.yml"), "utf8").match(/docker compose logs console-1 \| grep -A\d '([^']+)'/);
    expect(grep, "the header says where the first admin's password is").not.toBeNull();
    expect(fs.readFileSync(path.join(repoRoot, "server/main.ts"), "utf8")).toContain(`"${grep![1]}`);
    // The README shows the same command.
    const header = fs.readFileSync(path.join(repoRoot, "docker-compose.yml"), "utf8").split("\n").find((l) => l.includes("enroll-token create"))!;
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
    expect(readme).toContain(header.slice(header.indexOf("docker compose exec"), header.indexOf("| tail -1)") + "| tail -1)".length));
  });
});
