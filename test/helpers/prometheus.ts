// Reading what /metrics serves (the Prometheus text format) and which metric
// and label names a PromQL expression uses, for the tests of the metrics and
// of the alert rules and dashboard shipped beside them.

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  series: Series[];
  /** Every metric family's name from its `# TYPE` line (also those with no series now), with its type. */
  types: Map<string, string>;
}

export function parseScrape(text: string): Scrape {
  const series: Series[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[label[1]] = label[2].replace(/\\(.)/g, "$1");
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return { series, types };
}

/** The series of `name` whose labels include `labels`. */
export function seriesOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): Series[] {
  return scrape.series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one series of `name` with these labels (and no others that differ), its value; undefined when absent. */
export function valueOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = seriesOf(scrape, name, labels);
  if (found.length > 1) throw new Error(`${found.length} series of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** The sum of the values of the series of `name` whose labels include `labels`. */
export function sumOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return seriesOf(scrape, name, labels).reduce((sum, s) => sum + s.value, 0);
}

const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"]);

export interface PromqlUse {
  /** Each metric selector: its name and the label names its matchers use. */
  selectors: { name: string; labels: string[] }[];
  /** Label names of by/without/on/ignoring/group_left/group_right clauses. */
  grouping: string[];
}

/**
 * The metric and label names an expression uses. Not a PromQL parser: enough
 * for expressions as the shipped files write them (selectors, aggregations
 * with by/without, binary operators with on/ignoring, functions, ranges,
 * Grafana's $variables inside label values and ranges).
 */
export function promqlUse(expr: string): PromqlUse {
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const selectors: PromqlUse["selectors"] = [];
  const grouping: string[] = [];
  rest = rest.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_, name: string | undefined, body: string) => {
    const labels = [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]);
    if (!name) throw new Error(`a selector without a metric name in ${expr}`);
    selectors.push({ name, labels });
    return " ";
  });
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw, body: string) => {
    grouping.push(...body.split(",").map((s) => s.trim()).filter(Boolean));
    return " ";
  });
  rest = rest.replace(/\[[^\]]*\]/g, " ");
  for (const m of rest.matchAll(/(?<![a-zA-Z0-9_:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![a-zA-Z0-9_:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(m[1].toLowerCase())) selectors.push({ name: m[1], labels: [] });
  }
  return { selectors, grouping };
}
