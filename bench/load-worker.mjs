// Load generator for the check-in and enrollment benchmarks, in its own
// thread so that the server under test keeps its event loop. Plain
// JavaScript: it needs no loader. Keep-alive connections, each sending one
// request at a time. With `enrollAs` set, each request enrolls a new machine
// (`<enrollAs>-<n>`) with the (enrollment) token, and a 201 is a success.
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";

const { url, tokens, connections, durationMs, changeState, seqStart, enrollAs, withApps } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const checksum = "b".repeat(64);
const latencies = [];
let ok = 0;
let errors = 0;
let statuses = {};
const seqs = new Map();

function body(token, seq) {
  return JSON.stringify({
    seq,
    sentAt: new Date().toISOString(),
    bootId: "0f3c2a8e-6b1d-4e55-9a57-3f0c1d2e4b6a",
    agentVersion: "1.0.0",
    deployments: [{ checksum, ref: "exampleos/x86_64/stable", version: "2026.10.3", booted: true, staged: false, pinned: false }],
    update: { state: "idle", targetChecksum: null, progress: null, error: null },
    health: {
      status: changeState && seq % 2 === 0 ? "degraded" : "healthy",
      checks: [{ name: "sshd.service", status: "pass" }],
    },
    // BENCH_APPS: a 1.2 agent's installed apps, the same every time (what a quiet check-in carries).
    ...(withApps ? { apps: BENCH_APPS } : {}),
  });
}

const BENCH_APPS = [
  {
    ref: "app/org.example.Kiosk/x86_64/stable", commit: "c".repeat(64), origin: "orchard-kiosk", managed: true,
    update: { state: "succeeded", targetCommit: "c".repeat(64), error: null },
    health: { status: "healthy", checks: [{ name: "kiosk-http", status: "pass" }] },
  },
  { ref: "runtime/org.example.Platform/x86_64/1.0", commit: "d".repeat(64), origin: "orchard-kiosk", managed: true },
];

let enrolled = 0;
function enrollBody() {
  const id = `${enrollAs}-${enrolled++}`;
  return JSON.stringify({ machineId: id, hostname: id, backend: "sim", agentVersion: "1.0.0", labels: { bench: "yes" } });
}

function once(token) {
  return new Promise((resolve) => {
    const seq = (seqs.get(token) ?? seqStart) + 1;
    seqs.set(token, seq);
    const payload = enrollAs ? enrollBody() : body(token, seq);
    const success = enrollAs ? 201 : 200;
    const started = process.hrtime.bigint();
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode === success) {
            ok++;
            latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          } else errors++;
          resolve();
        });
      },
    );
    req.on("error", () => {
      errors++;
      resolve();
    });
    req.end(payload);
  });
}

const deadline = Date.now() + durationMs;
let next = 0;
async function loop() {
  while (Date.now() < deadline) await once(tokens[next++ % tokens.length]);
}
const started = Date.now();
await Promise.all(Array.from({ length: connections }, loop));
const seconds = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
agent.destroy();
parentPort.postMessage({ ok, errors, statuses, seconds, perSecond: ok / seconds, p50: pct(0.5), p99: pct(0.99), seqEnd: Math.max(...seqs.values()) });
