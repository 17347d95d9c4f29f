// Hears what other processes changed: one dedicated connection (neither the
// console's pool nor the agents') LISTENs on channel orchard_cache, which
// triggers on the cached tables notify when their transactions commit
// (prisma/migrations/…_cache_notifications). Each notification is emitted on
// domainEvents, where the agent service forgets what it names.
//
// Why triggers rather than a NOTIFY in each domain function: a trigger sees
// every writer, the `orchard` command, the controller, an older console
// version and SQL typed by hand included, and a domain function added later
// cannot forget it. Its cost is paid only by the rows the caches read (a
// WHEN on the watched columns); a check-in's own writes notify nobody.
//
// A lost connection may have lost notifications: everything cached is
// forgotten at once and again once the connection is back (with backoff),
// and until then the caches fall back to their TTL (`listening` false).
import pg from "pg";
import { domainEvents } from "../events";
import type { Logger } from "../logger";

export const CACHE_CHANNEL = "orchard_cache";

/** The application_name of the listening connection (pg_stat_activity). */
export const LISTEN_APPLICATION_NAME = "orchard-listen";

export interface CacheChannelOptions {
  log: Logger;
  /** First wait before reconnecting; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** Applies one notification's payload to the caches (through domainEvents). */
export function applyNotification(payload: string) {
  const colon = payload.indexOf(":");
  const kind = colon < 0 ? payload : payload.slice(0, colon);
  const id = colon < 0 ? "" : payload.slice(colon + 1);
  if (kind === "machine" && id) domainEvents.emit("machineChanged", id);
  else if (kind === "ring" && id) domainEvents.emit("ringChanged", id);
  // "all", and anything this version does not know: forget everything.
  else domainEvents.emit("everythingChanged");
}

export class CacheChannel {
  private client: pg.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private failures = 0;
  private heard = false;

  constructor(
    private readonly url: string,
    private readonly options: CacheChannelOptions,
  ) {}

  /** Whether notifications are being heard now. */
  get listening(): boolean {
    return this.heard;
  }

  /** Connects and LISTENs; on failure keeps trying in the background (the caches use their TTL meanwhile). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const client = this.client;
    this.client = null;
    this.setListening(false);
    await client?.end().catch(() => undefined);
  }

  private async connect() {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url, application_name: LISTEN_APPLICATION_NAME, keepAlive: true });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      client.removeAllListeners("notification");
      void client.end().catch(() => undefined);
      if (this.client === client) this.client = null;
      if (this.stopped) return;
      this.options.log.warn({ err: error }, "lost the cache notification connection; caches fall back to their TTL until it is back");
      this.setListening(false);
      domainEvents.emit("everythingChanged");
      this.scheduleReconnect();
    };
    client.on("error", onLost);
    client.on("end", () => onLost());
    client.on("notification", (message) => {
      if (message.channel === CACHE_CHANNEL) applyNotification(message.payload ?? "");
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CACHE_CHANNEL}`);
    } catch (error) {
      onLost(error as Error);
      return;
    }
    if (this.stopped || lost) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    // Whatever changed while nobody listened is not in any notification.
    domainEvents.emit("everythingChanged");
    this.setListening(true);
  }

  private scheduleReconnect() {
    if (this.stopped || this.retry) return;
    const base = this.options.backoffMs ?? 250;
    const wait = Math.min(this.options.maxBackoffMs ?? 10_000, base * 2 ** this.failures);
    this.failures++;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.connect();
    }, wait);
    this.retry.unref();
  }

  private setListening(listening: boolean) {
    if (this.heard === listening) return;
    this.heard = listening;
    domainEvents.emit("listening", listening);
  }
}
