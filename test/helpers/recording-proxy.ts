// A pass-through HTTP proxy between simulated agents and the console that
// records what the console acknowledged: every event id sent with the status
// of the last call that carried it (POST /events, or a check-in since 1.3),
// and per machine token the reported state of its last acknowledged check-in
// and of those sent since without an answer (which the console may or may
// not have applied before it died).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { reportedStateHash } from "../../server/agents/agent-service";
import { hashToken } from "../../server/auth/tokens";
import { checkinRequestSchema } from "../../server/protocol/v1";

export interface CheckinRecord {
  /** State hash (as the console computes it) of the last check-in answered 200, and its seq. */
  acked: { hash: string; seq: number } | null;
  /** State hashes of check-ins sent after it that got no 200. */
  unanswered: Set<string>;
}

export interface RecordingProxy {
  url: string;
  /** Every event id the agents sent (agents use UUIDs), with the status of the last call that carried it, events or check-in. */
  events: Map<string, number>;
  /** By machine token hash. */
  checkins: Map<string, CheckinRecord>;
  statuses: Map<number, number>;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const events = new Map<string, number>();
  const checkins = new Map<string, CheckinRecord>();
  const statuses = new Map<number, number>();
  const upstream = new URL(target);

  function checkinSent(req: http.IncomingMessage, body: Buffer): ((status: number) => void) | null {
    if (!req.url?.endsWith("/checkin") || req.method !== "POST") return null;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    let parsed;
    try {
      parsed = checkinRequestSchema.safeParse(JSON.parse(body.toString("utf8")));
    } catch {
      return null;
    }
    if (!token || !parsed.success) return null;
    const key = hashToken(token);
    const record = checkins.get(key) ?? { acked: null, unanswered: new Set<string>() };
    checkins.set(key, record);
    const hash = reportedStateHash(parsed.data);
    record.unanswered.add(hash);
    // v1.3: events ride with the check-in, stored before a 200 answers it.
    const carried = parsed.data.events?.map((e) => e.id) ?? [];
    return (status) => {
      for (const id of carried) events.set(id, status);
      if (status !== 200) return;
      record.acked = { hash, seq: parsed.data.seq };
      record.unanswered = new Set();
    };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const answered = checkinSent(req, body);
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          const status = answer.statusCode ?? 0;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          answered?.(status);
          if (req.url?.endsWith("/events") && req.method === "POST") {
            try {
              const ids = (JSON.parse(body.toString("utf8")) as { events: { id: string }[] }).events.map((e) => e.id);
              for (const id of ids) events.set(id, status);
            } catch {
              // not an events body: nothing to record
            }
          }
          res.writeHead(status, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on("error", () => {
        statuses.set(502, (statuses.get(502) ?? 0) + 1);
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    events,
    checkins,
    statuses,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
