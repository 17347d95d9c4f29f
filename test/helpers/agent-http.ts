// A minimal protocol client for tests: raw HTTP, so tests see status codes
// and bodies exactly as an agent would.
export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; contentType?: string } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
  const res = await fetch(`${baseUrl}/api/agent/v1${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

export const hex = (c: string) => c.repeat(64);

export function enrollBody(machineId: string, extra: Record<string, unknown> = {}) {
  return { machineId, hostname: machineId, backend: "sim", agentVersion: "1.0.0", os: { id: "exampleos", versionId: "1", arch: "x86_64" }, ...extra };
}

export function checkinBody(seq: number, options: { booted?: string; state?: string; health?: string; version?: string; bootId?: string } = {}) {
  const booted = options.booted ?? hex("b");
  return {
    seq,
    sentAt: new Date().toISOString(),
    bootId: options.bootId ?? "0f3c2a8e-6b1d-4e55-9a57-3f0c1d2e4b6a",
    agentVersion: "1.0.0",
    deployments: [{ checksum: booted, ref: "exampleos/x86_64/stable", version: options.version ?? "1", booted: true, staged: false, pinned: false }],
    update: { state: options.state ?? "idle", targetChecksum: null, progress: null, error: null },
    health: { status: options.health ?? "healthy", checks: [{ name: "sshd.service", status: "pass" }] },
  };
}

export type ReportOptions = Parameters<typeof checkinBody>[1] & { error?: string; target?: string };

/** Machines enrolled through the protocol, each checking in with its own token and rising seq. */
export class ProtocolMachines {
  readonly tokens = new Map<string, string>();
  private readonly seqs = new Map<string, number>();

  constructor(private readonly baseUrl: string) {}

  async enroll(machineId: string, enrollmentToken: string) {
    const res = await call<{ token: string }>(this.baseUrl, "POST", "/enroll", { token: enrollmentToken, body: enrollBody(machineId) });
    if (res.body?.token) this.tokens.set(machineId, res.body.token);
    return res;
  }

  /** A check-in with the next seq; an unhealthy report carries a failing kiosk-app.service check. */
  report(machineId: string, options: ReportOptions = {}) {
    const seq = (this.seqs.get(machineId) ?? 0) + 1;
    this.seqs.set(machineId, seq);
    const body = checkinBody(seq, options);
    body.update.error = (options.error ?? null) as never;
    body.update.targetChecksum = (options.target ?? null) as never;
    if (options.health === "unhealthy") body.health.checks = [{ name: "kiosk-app.service", status: "fail" }];
    return call(this.baseUrl, "POST", "/checkin", { token: this.tokens.get(machineId), body });
  }
}
