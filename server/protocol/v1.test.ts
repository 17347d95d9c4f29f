import { describe, expect, it } from "vitest";
import { checkinRequestSchema, describeFirstIssue, enrollRequestSchema, eventsRequestSchema, formatPath } from "./v1";

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
