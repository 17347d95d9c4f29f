// The fleet's command line, checked with zod: a bad value names its flag.
import { z } from "zod";
import { checksumSchema, refSchema } from "../../../server/protocol/v1.ts";
import { SIM_FACTORY_DEFAULT } from "../config.ts";
import { logLevels } from "../log.ts";
import type { FleetGroup } from "./fleet.ts";

export class UsageError extends Error {}

const number = z.coerce.number({ error: "expected a number" });
const probability = number.min(0, "must be between 0 and 1").max(1, "must be between 0 and 1");

/** Flag values as commander gives them (strings), by flag name. */
export const fleetFlagsSchema = z.object({
  server: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }),
  token: z.string().min(1).optional(),
  agents: z.coerce.number().int("expected a whole number").min(1, "at least 1").max(100_000).optional(),
  stateDir: z.string().min(1),
  namePrefix: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, "expected 1 to 100 characters of [A-Za-z0-9._-]"),
  interval: number.positive("must be positive"),
  failRate: probability,
  failRelease: z.string().min(1).optional(),
  failAppRelease: z.string().min(1).optional(),
  failAppRate: probability,
  appInstallSeconds: number.nonnegative("must not be negative"),
  darkRate: probability,
  degradedRate: probability,
  fallbackRate: probability,
  stageSeconds: number.nonnegative("must not be negative"),
  rebootSeconds: number.nonnegative("must not be negative"),
  healthGrace: number.positive("must be positive"),
  clockSkew: number.nonnegative("must not be negative"),
  factoryRef: refSchema.default(SIM_FACTORY_DEFAULT.ref),
  factoryChecksum: checksumSchema.default(SIM_FACTORY_DEFAULT.checksum),
  factoryVersion: z.string().min(1).default(SIM_FACTORY_DEFAULT.version),
  logLevel: z.enum(logLevels, { error: `expected one of ${logLevels.join(", ")}` }),
});
export type FleetFlags = z.infer<typeof fleetFlagsSchema>;

export function parseFleetFlags(raw: Record<string, unknown>): FleetFlags {
  const parsed = fleetFlagsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = String(issue.path[0] ?? "");
  throw new UsageError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`);
}

/**
 * The agents' enrollment tokens: ORCHARD_FLEET_TOKENS ("T1:5,T2:15": the
 * first 5 agents use T1, the next 15 T2), or one token for all --agents
 * from --token or ORCHARD_FLEET_TOKEN (which keeps it out of `ps`).
 */
export function fleetGroups(
  flags: Pick<FleetFlags, "token" | "agents">,
  env: Record<string, string | undefined>,
): FleetGroup[] {
  const tokensVariable = env.ORCHARD_FLEET_TOKENS;
  if (tokensVariable?.trim()) {
    if (flags.token !== undefined || flags.agents !== undefined) {
      throw new UsageError("ORCHARD_FLEET_TOKENS replaces --token and --agents: give one or the other");
    }
    return tokensVariable.split(",").map((pair, index) => {
      const at = pair.lastIndexOf(":");
      const token = pair.slice(0, at).trim();
      const count = Number(pair.slice(at + 1));
      if (at <= 0 || !token || !Number.isInteger(count) || count < 1) {
        // The pair holds a secret: name it by position, never echo it.
        throw new UsageError(`ORCHARD_FLEET_TOKENS: pair ${index + 1} is not TOKEN:COUNT (pairs are separated by commas)`);
      }
      return { token, count };
    });
  }
  if (flags.agents === undefined) throw new UsageError("--agents: required (or set ORCHARD_FLEET_TOKENS)");
  return [{ token: flags.token ?? (env.ORCHARD_FLEET_TOKEN?.trim() || null), count: flags.agents }];
}
