import { consola } from "consola";

export type LogFields = Record<string, string | number | boolean | undefined>;

/** One line per event: `text` for people, `json` (one object per line on stdout) for machines. */
export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function createLogger(format: "text" | "json", quiet = false): Logger {
  const emit = (level: "info" | "warn" | "error", event: string, fields: LogFields = {}) => {
    if (quiet) return;
    if (format === "json") {
      const record: Record<string, unknown> = { time: new Date().toISOString(), level, event };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = v;
      process.stdout.write(JSON.stringify(record) + "\n");
      return;
    }
    const text = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" && /[\s"=]/.test(v) ? JSON.stringify(v) : v}`)
      .join(" ");
    consola[level](`${event}${text ? " " + text : ""}`);
  };
  return {
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
  };
}
