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
