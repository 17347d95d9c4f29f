// A pass-through HTTP proxy between simulated agents and the console that
// records every event id sent and the status each events call got.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordingProxy {
  url: string;
  /** Every event id the agents sent (agents use UUIDs), with the status of the last call that carried it. */
  events: Map<string, number>;
  statuses: Map<number, number>;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const events = new Map<string, number>();
  const statuses = new Map<number, number>();
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          const status = answer.statusCode ?? 0;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
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
        res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    events,
    statuses,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
