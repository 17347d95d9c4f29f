import { describe, expect, it } from "vitest";
import { ociSourceConfigSchema } from "./oci";

const issues = (input: unknown) => {
  const result = ociSourceConfigSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("ociSourceConfigSchema", () => {
  it("keeps the registry's origin and defaults the platform to linux/amd64", () => {
    expect(ociSourceConfigSchema.parse({ registry: "https://Quay.io/", repository: "example/os", tag: "41" })).toEqual({
      registry: "https://quay.io",
      repository: "example/os",
      tag: "41",
      platform: "linux/amd64",
    });
  });

  it("wants exactly one of tag and tagPattern, and both of username and password", () => {
    expect(issues({ registry: "https://r", repository: "a" })).toEqual(["tag: give exactly one of tag and tagPattern"]);
    expect(issues({ registry: "https://r", repository: "a", tag: "1", tagPattern: "1.*" })).toEqual(["tag: give exactly one of tag and tagPattern"]);
    expect(issues({ registry: "https://r", repository: "a", tag: "1", username: "u" })).toEqual(["password: give both username and password, or neither"]);
  });

  it("names the field of a bad value", () => {
    expect(issues({ registry: "https://r/v2/", repository: "a", tag: "1" })[0]).toMatch(/^registry: /);
    expect(issues({ registry: "https://user:pw@r", repository: "a", tag: "1" })[0]).toMatch(/^registry: /);
    expect(issues({ registry: "https://r", repository: "quay.io/example/os", tag: "1" })).toEqual([
      "repository: starts with a registry host: put the host in registry and the rest here (example/os)",
    ]);
    expect(issues({ registry: "https://r", repository: "Example/OS", tag: "1" })[0]).toMatch(/^repository: expected a repository name/);
    expect(issues({ registry: "https://r", repository: "a", tag: "-x" })[0]).toMatch(/^tag: /);
    expect(issues({ registry: "https://r", repository: "a", tagPattern: "41.[0-9]" })[0]).toMatch(/^tagPattern: /);
    expect(issues({ registry: "https://r", repository: "a", tag: "1", platform: "amd64" })[0]).toMatch(/^platform: /);
    expect(issues({ registry: "https://r", repository: "a", tag: "1", publicKey: "-----BEGIN PUBLIC KEY-----" })[0]).toMatch(/^publicKey: /);
  });
});
