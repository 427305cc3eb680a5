// A minimal Prometheus registry: counters, histograms and scrape-time gauges in the text format (0.0.4).

type Labels = readonly string[];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(names: Labels, values: Labels, extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? "")}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
}

interface Metric {
  render(out: string[]): void;
}

/** A monotonically increasing count per label combination. */
export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  /** Added at scrape time (e.g. bytes of transfers still running). */
  extra?: () => Array<{ labels: Labels; value: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: Labels = [],
  ) {}

  inc(labels: Labels = [], n = 1): void {
    const key = labels.join("\u0000");
    const cur = this.values.get(key);
    if (cur) cur.value += n;
    else this.values.set(key, { labels: [...labels], value: n });
  }

  get(labels: Labels = []): number {
    return this.values.get(labels.join("\u0000"))?.value ?? 0;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    const merged = new Map<string, { labels: Labels; value: number }>();
    for (const [k, v] of this.values) merged.set(k, { ...v });
    for (const e of this.extra?.() ?? []) {
      const k = e.labels.join("\u0000");
      const cur = merged.get(k);
      if (cur) cur.value += e.value;
      else merged.set(k, { labels: e.labels, value: e.value });
    }
    if (merged.size === 0 && this.labelNames.length === 0) merged.set("", { labels: [], value: 0 });
    for (const { labels, value } of merged.values()) out.push(`${this.name}${labelText(this.labelNames, labels)} ${num(value)}`);
  }
}

/** A value read when scraped. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: Labels,
    private readonly read: () => Array<{ labels: Labels; value: number }> | number,
  ) {}

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    const v = this.read();
    if (typeof v === "number") out.push(`${this.name} ${num(v)}`);
    else for (const { labels, value } of v) out.push(`${this.name}${labelText(this.labelNames, labels)} ${num(value)}`);
  }
}

/** Observations counted into cumulative buckets (seconds, bytes…). */
export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: Labels,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labels.join("\u0000");
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: [...labels], counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, `le="${num(b)}"`)} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, s.labels)} ${s.count}`);
    }
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }

  /** The whole registry in the Prometheus text exposition format. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return out.join("\n") + "\n";
  }
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
