// One structured logger for the console. Secrets never go into a log line:
// the redact list is the last line of defence, not the first.
import { pino } from "pino";

// The command line keeps stdout for its answers and logs to stderr.
const destination = pino.destination({ fd: process.env.ORCHARD_LOG_FD === "2" ? 2 : 1, sync: false });

export const logger = pino({
  level: process.env.LOG_LEVEL ?? "info",
  base: { service: "orchard" },
  redact: {
    paths: [
      "token",
      "*.token",
      "password",
      "*.password",
      "passwordHash",
      "*.passwordHash",
      "tokenHash",
      "*.tokenHash",
      "authorization",
      "*.authorization",
      "headers.authorization",
      "req.headers.authorization",
      "req.headers.cookie",
    ],
    censor: "[redacted]",
  },
}, destination);

export type Logger = typeof logger;
