// The monitoring files shipped in deploy/: Prometheus's own promtool checks
// the alerting rules, runs their unit tests and checks the example
// configuration; every metric and label that the rules and the Grafana
// dashboard use is one that a real console's /metrics serves; a real
// Prometheus (Debian's, beside promtool) started with the example
// configuration scrapes that console and evaluates every rule.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { cliActor } from "../../server/audit/audit";
import { pauseRollout, startRollout } from "../../server/rollouts/rollouts";
import { createWebhook } from "../../server/webhooks/webhooks";
import { hex } from "../helpers/agent-http";
import { freePort } from "../helpers/console-process";
import { ringsOnRelease1, startTestConsole, type TestConsole } from "../helpers/console";
import { parseScrape, promqlUse, type Scrape } from "../helpers/prometheus";
import { waitFor } from "../helpers/fleet";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

const root = path.resolve(import.meta.dirname, "../..");
const prometheusDir = path.join(root, "deploy/prometheus");
const dashboardFile = path.join(root, "deploy/grafana/orchard-dashboard.json");
const METRICS_TOKEN = "t".repeat(24);
/** Series Prometheus makes itself for every target, and the labels it adds to every series it scrapes. */
const PROMETHEUS_OWN = new Set(["up"]);
const TARGET_LABELS = new Set(["job", "instance"]);

const hasPromtool = await promisify(execFile)("promtool", ["--version"]).then(
  () => true,
  () => false,
);
// On CI a missing promtool is a failure (Debian's `prometheus` package has it), never a skip.
const skipWithoutPromtool = !hasPromtool && !process.env.CI;
const promtool = (args: string[], cwd = prometheusDir) => promisify(execFile)("promtool", args, { cwd });

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

const rules = (YAML.parse(fs.readFileSync(path.join(prometheusDir, "orchard-alerts.yml"), "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(fs.readFileSync(dashboardFile, "utf8")) as {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const variables = dashboard.templating.list;
/** label_values(metric, label) of a query variable. */
const labelValues = (query: string) => {
  const match = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(query);
  if (!match) throw new Error(`not a label_values() query: ${query}`);
  return { metric: match[1], label: match[2] };
};

let app: TestConsole;
let scrape: Scrape;
let rolloutId: string;
let sims: SimFleet;
let machines: SimMachine[];

beforeAll(async () => {
  // A console with machines, a rollout paused by an operator and a webhook, so that every family has series with their labels.
  app = await startTestConsole({ ORCHARD_METRICS_TOKEN: METRICS_TOKEN }, { controller: false });
  await ringsOnRelease1(app, REF, ["canary"]);
  // A webhook subscription whose receiver is not there: its deliveries wait (and retry).
  await createWebhook(app.db.prisma, cliActor, { url: "http://127.0.0.1:9/nobody", events: ["rollout.started", "rollout.paused"] }, { allowPrivate: true }, app.secretBox);
  sims = new SimFleet(app);
  machines = await sims.enroll("canary", 2, hex("1"));
  const rollout = await startRollout(app.db.prisma, cliActor, { version: "2", rings: ["canary"] });
  rolloutId = rollout.id;
  await app.controller.stepRollout(rollout.id);
  await pauseRollout(app.db.prisma, cliActor, { rolloutId, reason: "for the test" }, app.clock);
  const res = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  scrape = parseScrape(await res.text());
});
afterAll(async () => {
  await app?.stop();
});

describe.skipIf(skipWithoutPromtool)("the alerting rules, by promtool", () => {
  it("are valid rules", async () => {
    const { stdout } = await promtool(["check", "rules", "orchard-alerts.yml"]);
    expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it("fire as their unit tests expect", async () => {
    const { stdout } = await promtool(["test", "rules", "orchard-alerts.test.yml"]);
    expect(stdout).toContain("SUCCESS");
  });

  it("load through the example configuration", async () => {
    // The configuration names its token file beside it; promtool checks that it exists.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-prom-"));
    try {
      for (const file of ["prometheus.yml", "orchard-alerts.yml"]) fs.copyFileSync(path.join(prometheusDir, file), path.join(dir, file));
      fs.writeFileSync(path.join(dir, "orchard-metrics-token"), METRICS_TOKEN, { mode: 0o600 });
      const { stdout } = await promtool(["check", "config", "prometheus.yml"], dir);
      expect(stdout).toContain("SUCCESS: 1 rule files found");
      expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the Grafana dashboard", () => {
  it("has unique panel ids, panels within the grid's 24 columns, one datasource variable, and defines every variable it uses", () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === "row") continue;
      expect(p.datasource?.uid, p.title).toBe("${datasource}");
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource?.uid, p.title).toBe("${datasource}");
    }
    expect(variables.filter((v) => v.type === "datasource").map((v) => v.name)).toEqual(["datasource"]);
    const defined = new Set(variables.map((v) => v.name));
    const text = JSON.stringify(dashboard.panels);
    for (const used of text.matchAll(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
      if (!used[1].startsWith("__")) expect(defined, `$${used[1]}`).toContain(used[1]);
    }
  });
});

describe("metric names of the rules and the dashboard", () => {
  /** The label names each metric's series carry on the scrape. */
  const labelsOf = (name: string) => new Set([...TARGET_LABELS, ...scrape.series.filter((s) => s.name === name).flatMap((s) => Object.keys(s.labels))]);
  const served = (name: string) => PROMETHEUS_OWN.has(name) || scrape.series.some((s) => s.name === name);

  function checkExpression(where: string, expr: string) {
    const use = promqlUse(expr);
    expect(use.selectors.length, `${where}: ${expr}`).toBeGreaterThan(0);
    for (const selector of use.selectors) {
      expect(served(selector.name), `${where}: ${selector.name} is not served by /metrics`).toBe(true);
      if (PROMETHEUS_OWN.has(selector.name)) continue;
      for (const label of selector.labels) expect(labelsOf(selector.name), `${where}: ${selector.name} has no label ${label}`).toContain(label);
    }
    const labels = new Set(use.selectors.flatMap((s) => (PROMETHEUS_OWN.has(s.name) ? [...TARGET_LABELS] : [...labelsOf(s.name)])));
    for (const label of use.grouping) expect(labels, `${where}: no metric of ${expr} has the label ${label}`).toContain(label);
  }

  it("are served by /metrics, with the labels they use", () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) checkExpression(`rule ${rule.alert ?? rule.record}`, rule.expr);
    for (const panel of panels) for (const target of panel.targets ?? []) checkExpression(`panel ${panel.title}`, target.expr);
    for (const variable of variables.filter((v) => v.type === "query")) {
      const { metric, label } = labelValues(typeof variable.query === "string" ? variable.query : variable.query.query);
      expect(served(metric), `variable ${variable.name}: ${metric}`).toBe(true);
      expect(labelsOf(metric), `variable ${variable.name}: ${metric}`).toContain(label);
    }
  });

  it("catch a name /metrics does not serve", () => {
    expect(() => checkExpression("a typo", 'max by (ring) (orchard_machine_dark{ring="beta"})')).toThrow(/orchard_machine_dark is not served/);
    expect(() => checkExpression("a typo", "max by (rings) (orchard_machines_dark)")).toThrow(/label rings/);
    expect(() => checkExpression("a typo", 'orchard_rollout_state{paused="gate"}')).toThrow(/no label paused/);
  });
});

describe.skipIf(skipWithoutPromtool)("a real Prometheus with the example configuration", () => {
  let dir: string;
  let prometheus: ChildProcess | null = null;
  let output = "";
  let promUrl: string;
  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const res = await fetch(`${promUrl}${pathAndQuery}`);
    expect(res.status, pathAndQuery).toBe(200);
    return ((await res.json()) as { data: T }).data;
  };

  beforeAll(async () => {
    // prometheus.yml as shipped, pointed at the test's console over plain HTTP and at a fast pace.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-prometheus-"));
    const config = YAML.parse(fs.readFileSync(path.join(prometheusDir, "prometheus.yml"), "utf8"));
    config.global = { scrape_interval: "1s", evaluation_interval: "1s" };
    const job = config.scrape_configs[0];
    job.scheme = "http";
    job.static_configs = [{ targets: [new URL(app.url).host] }];
    fs.writeFileSync(path.join(dir, "prometheus.yml"), YAML.stringify(config));
    fs.copyFileSync(path.join(prometheusDir, "orchard-alerts.yml"), path.join(dir, "orchard-alerts.yml"));
    fs.writeFileSync(path.join(dir, job.authorization.credentials_file), METRICS_TOKEN, { mode: 0o600 });
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      "prometheus",
      [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitFor("Prometheus ready", async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok ?? false, 30_000, 200);
  });
  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const gone = new Promise((resolve) => prometheus!.once("exit", resolve));
      prometheus.kill("SIGTERM");
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes the console with its token and evaluates every rule without error: the paused rollout's alert pending, the no-check-ins alert pending until a machine checks in", async () => {
    await waitFor("the console scraped", async () => {
      const { activeTargets } = await api<{ activeTargets: { health: string; lastError: string }[] }>("/api/v1/targets");
      return activeTargets.length === 1 && activeTargets[0].health === "up";
    }, 30_000, 250).catch((error: Error) => {
      throw new Error(`${error.message}\n${output}`);
    });
    const paused = await api<{ result: { metric: Record<string, string> }[] }>(`/api/v1/query?query=${encodeURIComponent('orchard_rollout_state{state="paused"}')}`);
    expect(paused.result.map((r) => r.metric)).toMatchObject([{ job: "orchard", rollout: rolloutId, release: "2", paused_by: "operator" }]);

    // Paused by an operator: pending for a day before it fires.
    type Alert = { labels: Record<string, string>; state: string };
    const alertsNow = async () => (await api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts;
    await waitFor("OrchardRolloutPausedLong pending", async () =>
      (await alertsNow()).some((a) => a.labels.alertname === "OrchardRolloutPausedLong" && a.labels.rollout === rolloutId && a.state === "pending"), 30_000, 250);
    const { groups } = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>("/api/v1/rules");
    const evaluated = groups.flatMap((g) => g.rules);
    expect(evaluated.map((r) => r.name).sort()).toEqual(rules.map((r) => r.alert).sort());
    for (const rule of evaluated) expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? "" }).toEqual({ rule: rule.name, health: "ok", error: "" });

    // The test's machines checked in before Prometheus started and not since: no check-ins, pending;
    // one check-in, and it is not. Nothing else is wrong with the fleet.
    await waitFor("OrchardNoCheckIns pending", async () => (await alertsNow()).some((a) => a.labels.alertname === "OrchardNoCheckIns" && a.state === "pending"), 30_000, 250);
    await sims.checkin(machines[0]);
    await waitFor("OrchardNoCheckIns gone", async () => !(await alertsNow()).some((a) => a.labels.alertname === "OrchardNoCheckIns"), 30_000, 250);
    expect((await alertsNow()).map((a) => `${a.labels.alertname} ${a.state}`)).toEqual(["OrchardRolloutPausedLong pending"]);
  });

  it("answers every query of the Grafana dashboard, with its variables as Grafana fills them in", async () => {
    // All rings (the variable's allValue) and Grafana's rate interval.
    const filled = (expr: string) => expr.replaceAll("$ring", ".*").replaceAll("$__rate_interval", "1m");
    const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: filled(t.expr) })));
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string };
      expect({ panel, status: body.status, error: body.error ?? "" }).toEqual({ panel, status: "success", error: "" });
    }
    // The ring variable lists the console's rings.
    const rings = await api<string[]>(`/api/v1/label/ring/values?match[]=orchard_machines_offline`);
    expect(rings).toEqual(["canary"]);
  });
});
