// A Zincati-like client for tests: it builds its requests the way
// coreos/zincati's sources do (read, not copied): the base URL joined with
// "v1/graph", "v1/pre-reboot", "v1/steady-state" by URL resolution (so a base
// without its trailing slash loses its last segment), the graph as a GET with
// `accept: application/json` and the identity's query parameters
// (rollout_wariness with six decimals), FleetLock as a POST of the
// pretty-printed {"client_params":{"id","group"}} with
// `fleet-lock-protocol: true` and no content type; only a 2xx is a success,
// anything else is read as {kind, value}. It picks its update as
// find_update does: its booted node by payload (scheme "checksum"), the
// edges from it, the highest age index, no downgrade unless allowed.
export interface ZincatiIdentity {
  /** 32 lowercase hex characters, as Zincati's node_uuid.lower_hex(). */
  nodeUuid: string;
  group?: string;
  stream?: string;
  basearch?: string;
  platform?: string;
  rolloutWariness?: number;
  booted: { checksum: string; version: string };
}

export interface CincinnatiNode {
  version: string;
  payload: string;
  metadata: Record<string, string>;
}

export interface CincinnatiGraph {
  nodes: CincinnatiNode[];
  edges: [number, number][];
}

export type Outcome<T> = { ok: true; status: number; body: T } | { ok: false; status: number; kind: string; value: string };

async function outcome<T>(res: Response): Promise<Outcome<T>> {
  const text = await res.text();
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, body: (text ? JSON.parse(text) : null) as T };
  try {
    const error = JSON.parse(text) as { kind: string; value: string };
    return { ok: false, status: res.status, kind: error.kind, value: error.value };
  } catch {
    return { ok: false, status: res.status, kind: `generic_http_${res.status}`, value: "(unknown/generic server error)" };
  }
}

export class ZincatiClient {
  constructor(
    /** [cincinnati] base_url and [updates.fleet_lock] base_url (the same here). */
    readonly baseUrl: string,
    readonly identity: ZincatiIdentity,
    readonly options: { allowDowngrade?: boolean } = {},
  ) {}

  get group() {
    return this.identity.group ?? "default";
  }

  /** Zincati's cincinnati_params. */
  queryParams(): Record<string, string> {
    const id = this.identity;
    const params: Record<string, string> = {
      basearch: id.basearch ?? "x86_64",
      os_version: id.booted.version,
      group: this.group,
      node_uuid: id.nodeUuid,
      platform: id.platform ?? "metal",
      stream: id.stream ?? "stable",
      os_checksum: id.booted.checksum,
    };
    if (id.rolloutWariness !== undefined) params.rollout_wariness = id.rolloutWariness.toFixed(6);
    return params;
  }

  graphUrl(): URL {
    const url = new URL("v1/graph", this.baseUrl);
    for (const [key, value] of Object.entries(this.queryParams())) url.searchParams.append(key, value);
    return url;
  }

  async fetchGraph(): Promise<Outcome<CincinnatiGraph>> {
    return outcome<CincinnatiGraph>(await fetch(this.graphUrl(), { headers: { accept: "application/json" } }));
  }

  /** The pretty-printed FleetLock body (serde_json::to_string_pretty). */
  fleetLockBody(): string {
    return JSON.stringify({ client_params: { id: this.identity.nodeUuid, group: this.group } }, null, 2);
  }

  private async fleetLock(path: string) {
    const res = await fetch(new URL(path, this.baseUrl), { method: "POST", headers: { "fleet-lock-protocol": "true" }, body: this.fleetLockBody() });
    return outcome<unknown>(res);
  }

  preReboot() {
    return this.fleetLock("v1/pre-reboot");
  }

  steadyState() {
    return this.fleetLock("v1/steady-state");
  }

  /** find_update: the release Zincati would stage from this graph, or null. */
  nextUpdate(graph: CincinnatiGraph): CincinnatiNode | null {
    const age = (node: CincinnatiNode) => Number(node.metadata["org.fedoraproject.coreos.releases.age_index"]);
    const at = graph.nodes.findIndex((n) => n.metadata["org.fedoraproject.coreos.scheme"] === "checksum" && n.payload === this.identity.booted.checksum);
    if (at < 0) return null;
    const targets = graph.edges.filter(([from]) => from === at).map(([, to]) => graph.nodes[to]!);
    for (const node of [graph.nodes[at]!, ...targets]) {
      if (!node.version || !node.payload || !Number.isInteger(age(node))) throw new Error(`Zincati could not parse node ${JSON.stringify(node)}`);
    }
    const next = targets.sort((a, b) => age(a) - age(b) || a.version.localeCompare(b.version)).at(-1);
    if (!next) return null;
    const current = graph.nodes[at]!;
    const older = age(next) < age(current) || (age(next) === age(current) && next.version <= current.version);
    if (older && !this.options.allowDowngrade) return null;
    return next;
  }

  /** The node booted `node` (after a granted pre-reboot and a reboot). */
  boot(node: { payload: string; version: string }) {
    this.identity.booted = { checksum: node.payload, version: node.version };
  }
}
