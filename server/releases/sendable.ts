// The one rule on what may be sent to machines by its signature: a release
// whose signature its source's key did not vouch for (unsigned, invalid) is
// kept and shown, with the reason, and no ring, rollout or pin may send it.
// Decided here, once; every path that sends a release asks, and the console
// shows what this says.
import { conflict } from "../errors";
import { isSendableSignature, type SignatureState } from "../vocabulary";

export interface SignedRelease {
  version: string;
  signatureState: SignatureState;
  signatureReason: string | null;
}

const STATE_WORDS: Record<SignatureState, string> = {
  valid: "signed by its source's key",
  unsigned: "unsigned",
  invalid: "wrongly signed",
  not_checked: "not checked (no key)",
};

/** Whether the release may be sent to machines; when not, why, in words an operator reads. */
export function sendability(release: SignedRelease): { sendable: boolean; reason: string | null } {
  if (isSendableSignature(release.signatureState)) return { sendable: true, reason: null };
  const why = release.signatureReason ? `: ${release.signatureReason}` : "";
  return { sendable: false, reason: `release ${release.version} is ${STATE_WORDS[release.signatureState]}${why}; it cannot be sent to machines` };
}

/** Refuses (CONFLICT, naming `field`) a release that may not be sent to machines. */
export function assertSendable(release: SignedRelease, field: string): void {
  const { sendable, reason } = sendability(release);
  if (!sendable) throw conflict(reason!, field);
}

/** The columns `sendability` reads, for a Prisma select. */
export const signatureSelect = { version: true, signatureState: true, signatureReason: true } as const;

/**
 * Whether a release a source brought may start a rollout by itself (a ring's
 * follow mode): only when its source's key vouched for it. A release not
 * checked against a key may be sent by an operator, never by itself.
 */
export function followability(release: SignedRelease): { followable: boolean; reason: string | null } {
  if (release.signatureState === "valid") return { followable: true, reason: null };
  const { sendable, reason } = sendability(release);
  if (!sendable) return { followable: false, reason };
  return { followable: false, reason: `release ${release.version} is ${STATE_WORDS[release.signatureState]}: follow mode starts only releases signed by their source's key` };
}
