// A small line logger for the agent. Lines go to stderr, where journald (or
// the console that spawned the fleet) picks them up. Tokens never go in.
export const logLevels = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A logger whose lines start with `name:` (one per agent in the fleet). */
  child(name: string): Logger;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  name?: string,
): Logger {
  const threshold = logLevels.indexOf(level);
  const line = (at: LogLevel) => (message: string) => {
    if (logLevels.indexOf(at) < threshold) return;
    write(`${new Date().toISOString()} ${at} ${name ? `${name}: ` : ""}${message}`);
  };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    child: (child) => createLogger(level, write, name ? `${name}/${child}` : child),
  };
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
