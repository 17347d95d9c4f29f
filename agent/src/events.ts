// Events wait in the on-disk queue until the console has accepted them; each
// keeps the id it was given here, so a resent batch is recognised.
import { randomUUID } from "node:crypto";
import { type AgentEvent, type EventType, MAX_BODY_BYTES, MAX_EVENTS_PER_CALL, MAX_EVENTS_PER_CHECKIN, storableText } from "../../server/protocol/v1.ts";
import { type AgentClient, ApiError } from "./client.ts";
import { errorMessage, type Logger } from "./log.ts";
import type { AgentState, AgentStore } from "./store.ts";

export interface NewEvent {
  type: EventType;
  checksum: string | null;
  detail: string | null;
  /** v1.2: the Flatpak ref of an `app.*` event. */
  ref?: string;
}

/** Enough for weeks offline; beyond it the oldest events go, so the state file stays small. */
export const MAX_QUEUED_EVENTS = 1000;
const MAX_TEXT = 4096;

/** Appends `event` to the queue, dropping the oldest beyond MAX_QUEUED_EVENTS. */
export function queueEvent(state: Pick<AgentState, "queue">, event: NewEvent, at: Date): void {
  const queued: AgentEvent = {
    id: randomUUID(),
    at: at.toISOString(),
    type: event.type,
    checksum: event.checksum,
    detail: event.detail === null ? null : clip(event.detail),
    ...(event.ref === undefined ? {} : { ref: event.ref }),
  };
  state.queue.push(queued);
  const excess = state.queue.length - MAX_QUEUED_EVENTS;
  if (excess > 0) state.queue.splice(0, excess);
}

/**
 * Text as the console stores it (NUL dropped, half a surrogate pair replaced),
 * cut to `max` UTF-16 units (by default what the protocol accepts) without
 * cutting a character in two.
 */
export function clip(text: string, max = MAX_TEXT): string {
  const clean = storableText(text);
  if (clean.length <= max) return clean;
  let end = max - 1;
  const last = clean.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // the first half of a pair: keep the pair whole by leaving it out
  return `${clean.slice(0, end)}…`;
}

/** Room left in a request body for the `{"events":[…]}` around the events. */
const BATCH_BYTES = MAX_BODY_BYTES - 1024;

/**
 * The oldest events that fit one call: at most 100, and under the console's
 * 64 KiB body limit (a batch over it would be refused every time).
 */
export function nextBatch(queue: readonly AgentEvent[]): AgentEvent[] {
  return oldestThatFit(queue, MAX_EVENTS_PER_CALL, BATCH_BYTES, 1);
}

/**
 * v1.3: the oldest events a check-in carries: at most 20, in the `room`
 * bytes its body has left (none when even the oldest does not fit: they
 * go by POST /events).
 */
export function checkinBatch(queue: readonly AgentEvent[], room: number): AgentEvent[] {
  return oldestThatFit(queue, MAX_EVENTS_PER_CHECKIN, room, 0);
}

function oldestThatFit(queue: readonly AgentEvent[], max: number, room: number, atLeast: number): AgentEvent[] {
  const batch: AgentEvent[] = [];
  let bytes = 0;
  for (const event of queue.slice(0, max)) {
    bytes += Buffer.byteLength(JSON.stringify(event)) + 1;
    if (batch.length >= atLeast && bytes > room) break;
    batch.push(event);
  }
  return batch;
}

/**
 * Sends the queue in order, batch by batch; an event leaves the queue only
 * once the console took it. False when a batch could not be sent (it stays
 * queued for the next check-in).
 */
export async function sendQueuedEvents(
  client: AgentClient,
  store: AgentStore,
  log: Logger,
  signal: AbortSignal,
): Promise<boolean> {
  while (store.state.queue.length > 0 && !signal.aborted) {
    const batch = nextBatch(store.state.queue);
    try {
      await client.sendEvents(batch);
    } catch (error) {
      if (!(error instanceof ApiError && error.kind === "rejected" && error.status === 400)) {
        if (signal.aborted) return true;
        log.warn(`sending ${batch.length} events failed: ${errorMessage(error)}; they stay queued`);
        return false;
      }
      // The console will never take this batch as it is; keeping it would block every later event.
      log.error(`the console rejected ${batch.length} events (${error.message}); dropping them`);
    }
    const sent = new Set(batch.map((e) => e.id));
    await store.update((s) => {
      s.queue = s.queue.filter((e) => !sent.has(e.id));
    });
  }
  return true;
}
