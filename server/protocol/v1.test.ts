import { describe, expect, it } from "vitest";
import {
  checkinRequestSchema,
  checkinResponseSchema,
  describeFirstIssue,
  enrollRequestSchema,
  eventsRequestSchema,
  formatPath,
} from "./v1";

function firstIssue(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, value: unknown) {
  const result = schema.safeParse(value);
  if (result.success) return "ok";
  return describeFirstIssue(result.error as Parameters<typeof describeFirstIssue>[0]);
}

const checkin = (patch: Record<string, unknown> = {}) => ({
  seq: 1,
  sentAt: "2026-11-25T17:00:00Z",
  agentVersion: "1.0.0",
  deployments: [{ checksum: "a".repeat(64), ref: "exampleos/x86_64/stable", version: "1", booted: true }],
  update: { state: "idle" },
  health: { status: "healthy", checks: [] },
  ...patch,
});

describe("protocol v1 schemas", () => {
  it("formats paths as the spec writes them", () => {
    expect(formatPath(["deployments", 0, "checksum"])).toBe("deployments[0].checksum");
    expect(formatPath(["events", 12])).toBe("events[12]");
    expect(formatPath([])).toBe("");
  });

  it("accepts the spec's examples, ignoring unknown fields", () => {
    expect(firstIssue(checkinRequestSchema, checkin({ future: true }))).toBe("ok");
    expect(firstIssue(checkinRequestSchema, checkin({ deployments: [] }))).toBe("ok");
    expect(
      firstIssue(enrollRequestSchema, {
        machineId: "4c4c4544004d3510804bb4c04f4d4432",
        hostname: "kiosk-017",
        backend: "ostree",
        agentVersion: "1.0.0",
        os: { id: "exampleos", versionId: "2026.11.1", arch: "x86_64" },
        labels: { site: "ams-1" },
      }),
    ).toBe("ok");
  });

  it.each([
    [{ seq: -1 }, "seq: must not be negative"],
    [{ seq: 1.5 }, "seq: expected an integer"],
    [{ seq: "1" }, "seq: expected an integer"],
    [{ sentAt: "yesterday" }, "sentAt: expected an RFC 3339 time such as 2026-11-25T17:00:00Z"],
    [{ deployments: [{ checksum: "A".repeat(64), ref: "x", booted: true }] }, "deployments[0].checksum: expected 64 hex characters"],
    [{ deployments: [{ checksum: "a".repeat(64), ref: "bad ref", booted: true }] }, "deployments[0].ref: expected an ostree ref: [A-Za-z0-9._-] segments separated by /"],
    [{ deployments: [{ checksum: "a".repeat(64), ref: "x", booted: false }] }, "deployments: exactly one deployment must have booted: true"],
    [{ update: { state: "exploded" } }, "update.state: expected one of idle, downloading, staged, rebooting, verifying, succeeded, failed, rolled-back"],
    [{ update: { state: "downloading", progress: 2 } }, "update.progress: must be between 0 and 1"],
    [{ health: { status: "fine" } }, "health.status: expected one of healthy, degraded, unhealthy, unknown"],
    [{ health: undefined }, "health: is required"],
  ])("refuses %j with %j", (patch, message) => {
    expect(firstIssue(checkinRequestSchema, checkin(patch))).toBe(message);
  });

  it("refuses a body that is not an object", () => {
    expect(firstIssue(checkinRequestSchema, [])).toBe("expected an object");
    expect(firstIssue(eventsRequestSchema, { events: [] })).toBe("events: at least one event");
  });
});

describe("text that cannot be stored", () => {
  const enroll = (patch: Record<string, unknown>) => ({ machineId: "m-1", hostname: "h", backend: "sim", agentVersion: "1.0.0", ...patch });
  it.each([
    ["hostname", enroll({ hostname: "kiosk\u0000" }), "hostname"],
    ["hostname, half a pair", enroll({ hostname: "kiosk\ud800" }), "hostname"],
    ["agent version", enroll({ agentVersion: "1\udc00" }), "agentVersion"],
    ["a label value", enroll({ labels: { site: "ams\u0000" } }), "labels.site"],
  ])("refuses %s with the field's name", (_, body, field) => {
    expect(firstIssue(enrollRequestSchema, body)).toMatch(new RegExp(`^${field.replace(".", "\\.")}: must not hold a NUL character or half a surrogate pair`));
  });

  it("refuses them in the check-in's own fields", () => {
    expect(firstIssue(checkinRequestSchema, checkin({ bootId: "b\u0000" }))).toMatch(/^bootId: must not hold/);
    expect(firstIssue(checkinRequestSchema, checkin({ agentVersion: "\ud800" }))).toMatch(/^agentVersion: must not hold/);
  });

  it("cleans what the agent passes on without control: check output and names, errors, versions, event details", () => {
    const parsed = checkinRequestSchema.parse(
      checkin({
        deployments: [{ checksum: "a".repeat(64), ref: "exampleos/x86_64/stable", version: "1\u0000", booted: true }],
        update: { state: "failed", error: "ostree: \ud800 bad\u0000" },
        health: { status: "unhealthy", checks: [{ name: "app\u0000", status: "fail", output: "segfault \udc00\u0000" }] },
      }),
    );
    expect(parsed.deployments[0].version).toBe("1");
    expect(parsed.update.error).toBe("ostree: \ufffd bad");
    expect(parsed.health.checks[0]).toMatchObject({ name: "app", output: "segfault \ufffd" });
    const events = eventsRequestSchema.parse({ events: [{ id: "e", at: "2026-11-25T17:00:00Z", type: "health.failed", detail: "x\u0000\ud800" }] });
    expect(events.events[0].detail).toBe("x\ufffd");
    // A check name that was nothing but NUL is empty: refused, named.
    expect(firstIssue(checkinRequestSchema, checkin({ health: { status: "unknown", checks: [{ name: "\u0000", status: "pass" }] } }))).toMatch(
      /^health\.checks\[0\]\.name: must not be empty/,
    );
  });

  it("v1.2: reads installed apps and names a wrong field", () => {
    const app = { ref: "app/org.example.Kiosk/x86_64/stable", commit: "b".repeat(64), origin: "orchard-kiosk", managed: true };
    const runtime = { ref: "runtime/org.example.Platform/x86_64/1.0", commit: "c".repeat(64) };
    expect(firstIssue(checkinRequestSchema, checkin({ apps: [app, runtime] }))).toBe("ok");
    const parsed = checkinRequestSchema.parse(checkin({ apps: [runtime] }));
    expect(parsed.apps?.[0]).toMatchObject({ managed: false, origin: null, update: null, health: null });
    expect(firstIssue(checkinRequestSchema, checkin({ apps: [{ ...app, ref: "exampleos/x86_64/stable" }] }))).toBe(
      "apps[0].ref: expected a Flatpak ref: app/ID/ARCH/BRANCH or runtime/ID/ARCH/BRANCH",
    );
    expect(firstIssue(checkinRequestSchema, checkin({ apps: [{ ...app, update: { state: "staged" } }] }))).toMatch(/^apps\[0\]\.update\.state: /);
    expect(firstIssue(checkinRequestSchema, checkin({ apps: [{ ...app, commit: undefined }] }))).toBe("apps[0].commit: is required");
  });

  it("v1.2: an answer without apps, or with a malformed list, leaves apps alone", () => {
    const answer = { serverTime: "2026-12-01T00:00:00Z", checkInIntervalSeconds: 60, action: "none", desired: null };
    expect(checkinResponseSchema.parse(answer).apps).toBeUndefined();
    expect(checkinResponseSchema.parse({ ...answer, apps: [{ ref: "app/x" }] }).apps).toBeUndefined();
    const one = { ref: "app/org.example.Kiosk/x86_64/stable", remote: { name: "orchard-kiosk", url: "file:///repo" }, commit: "d".repeat(64) };
    expect(checkinResponseSchema.parse({ ...answer, apps: [one] }).apps).toEqual([
      { ...one, remote: { ...one.remote, gpgKey: null }, version: null, reason: "", allowDowngrade: false },
    ]);
    expect(checkinResponseSchema.parse({ ...answer, apps: [] }).apps).toEqual([]);
  });
});
