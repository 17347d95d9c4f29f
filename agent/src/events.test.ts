import { describe, expect, it } from "vitest";
import { isStorableText, MAX_BODY_BYTES } from "../../server/protocol/v1.ts";
import { clip, MAX_QUEUED_EVENTS, nextBatch, queueEvent } from "./events.ts";
import type { AgentState } from "./store.ts";

function queueOf(count: number, detailLength = 10) {
  const state = { queue: [] } as unknown as AgentState;
  for (let i = 0; i < count; i++) {
    queueEvent(state, { type: "agent.started", checksum: null, detail: `${i} `.padEnd(detailLength, "x") }, new Date());
  }
  return state.queue;
}

describe("event queue", () => {
  it("gives every event its own id and keeps the newest when full", () => {
    const queue = queueOf(MAX_QUEUED_EVENTS + 5);
    expect(queue).toHaveLength(MAX_QUEUED_EVENTS);
    expect(queue[0].detail).toMatch(/^5 /);
    expect(new Set(queue.map((e) => e.id)).size).toBe(MAX_QUEUED_EVENTS);
  });

  it("sends at most 100 events per call, oldest first", () => {
    const queue = queueOf(250);
    expect(nextBatch(queue)).toEqual(queue.slice(0, 100));
  });

  it("keeps a batch under the console's body limit", () => {
    const queue = queueOf(100, 4096);
    const batch = nextBatch(queue);
    expect(batch.length).toBeLessThan(100);
    expect(Buffer.byteLength(JSON.stringify({ events: batch }))).toBeLessThan(MAX_BODY_BYTES);
    expect(batch).toEqual(queue.slice(0, batch.length));
  });
});

describe("clip", () => {
  it("drops NUL, replaces half a surrogate pair, and never cuts a character in two", () => {
    expect(clip("a\u0000b")).toBe("ab");
    expect(clip("x\ud800y\udc00z")).toBe("x\ufffdy\ufffdz");
    // "😀" is two UTF-16 units: cut at 4 units, a pair that would be split is left out whole.
    expect(clip("ab😀cd", 4)).toBe("ab…");
    expect(clip("abc😀d", 5)).toBe("abc…");
    expect(clip("a😀bcdef", 5)).toBe("a😀b…");
    for (const text of ["😀".repeat(3000), `${"x".repeat(4094)}😀😀`]) {
      const clipped = clip(text);
      expect(clipped.length).toBeLessThanOrEqual(4096);
      expect(isStorableText(clipped)).toBe(true);
    }
  });
});
