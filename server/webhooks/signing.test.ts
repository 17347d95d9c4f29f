import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newSigningSecret, signatureHeaders } from "./signing";

describe("Standard Webhooks signatures", () => {
  it("verify with the reference library, and fail when the body or the secret differs", () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const body = JSON.stringify({ type: "rollout.started", timestamp: new Date().toISOString(), data: { rolloutId: "r1" } });
    const headers = signatureHeaders(secret, "msg_1", body, new Date());
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(secret).verify(body.replace("r1", "r2"), headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(newSigningSecret()).verify(body, headers)).toThrow(/No matching signature/);
    // A signature made ten minutes ago is refused as a replay.
    const old = signatureHeaders(secret, "msg_1", body, new Date(Date.now() - 600_000));
    expect(() => new Webhook(secret).verify(body, old)).toThrow(/too old/);
  });
});
