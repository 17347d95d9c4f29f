// A rollout's per-ring policy: waves, soak, the health gate and the dark
// deadline. A plan (schemas.ts) sets it for every ring of a rollout; a ring
// keeps its own default (rings/schemas.ts), which its follow rollouts use.
import { z } from "zod";

/** Each part's checks, without a default (what a change of a ring's default names). */
const policyChecks = {
  /** Percentages of each ring, ascending, ending at 100. */
  waves: z
    .array(z.number().int("whole percentages").min(1, "at least 1 %").max(100, "at most 100 %"))
    .min(1, "at least one wave")
    .max(10, "at most 10 waves")
    .refine((w) => w.every((p, i) => i === 0 || p > w[i - 1]), "waves must grow")
    .refine((w) => w.at(-1) === 100, "the last wave must be 100"),
  /** One machine alone before the first wave. */
  singleFirst: z.boolean(),
  soakSeconds: z.number().int().min(0).max(30 * 86_400, "at most 30 days"),
  maxFailureRate: z.number().min(0, "between 0 and 1").max(1, "between 0 and 1"),
  minSample: z.number().int().min(1, "at least 1").max(100_000),
  darkAfterSeconds: z.number().int().min(60, "at least a minute").max(7 * 86_400, "at most a week"),
};

export const ROLLOUT_POLICY_DEFAULTS = {
  waves: [10, 50, 100],
  singleFirst: true,
  soakSeconds: 1800,
  maxFailureRate: 0.05,
  minSample: 5,
  darkAfterSeconds: 1800,
} as const;

/** The parts with their defaults, as a plan (schemas.ts) and a ring's default take them. */
export const rolloutPolicyFields = {
  waves: policyChecks.waves.default([...ROLLOUT_POLICY_DEFAULTS.waves]),
  singleFirst: policyChecks.singleFirst.default(ROLLOUT_POLICY_DEFAULTS.singleFirst),
  soakSeconds: policyChecks.soakSeconds.default(ROLLOUT_POLICY_DEFAULTS.soakSeconds),
  maxFailureRate: policyChecks.maxFailureRate.default(ROLLOUT_POLICY_DEFAULTS.maxFailureRate),
  minSample: policyChecks.minSample.default(ROLLOUT_POLICY_DEFAULTS.minSample),
  darkAfterSeconds: policyChecks.darkAfterSeconds.default(ROLLOUT_POLICY_DEFAULTS.darkAfterSeconds),
};

/** A change of a ring's default: the parts it names, the others kept. */
export const rolloutPolicyChange = z.object(policyChecks).partial();

/** A ring's default rollout policy; every part has the plan's default. */
export const rolloutPolicySchema = z.object(rolloutPolicyFields).meta({ id: "RolloutPolicy" });
export type RolloutPolicy = z.output<typeof rolloutPolicySchema>;
export type RolloutPolicyInput = z.input<typeof rolloutPolicySchema>;

/** A stored policy (JSON, written through the schema) with the defaults filled in for parts it lacks. */
export function policyOf(stored: unknown): RolloutPolicy {
  const parsed = rolloutPolicySchema.safeParse(stored ?? {});
  return parsed.success ? parsed.data : rolloutPolicySchema.parse({});
}
