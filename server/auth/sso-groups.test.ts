import { describe, expect, it } from "vitest";
import { grantOfGroups, GroupMappingError, groupsOfClaim, parseGroupMapping } from "./sso-groups";

const MAPPING = "orchard-admins=admin,orchard-canary-ops=operator:canary+beta,orchard-stable-ops=operator:stable,orchard-viewers=viewer,orchard-all-ops=operator";

describe("the groups mapping (ORCHARD_OIDC_GROUPS)", () => {
  it("reads GROUP=ROLE[:RING+RING] entries", () => {
    expect([...parseGroupMapping(MAPPING)]).toEqual([
      ["orchard-admins", { role: "admin", rings: null }],
      ["orchard-canary-ops", { role: "operator", rings: ["canary", "beta"] }],
      ["orchard-stable-ops", { role: "operator", rings: ["stable"] }],
      ["orchard-viewers", { role: "viewer", rings: null }],
      ["orchard-all-ops", { role: "operator", rings: null }],
    ]);
  });

  it("reads a JSON object, for group names with commas; splits an entry at its last =", () => {
    expect([...parseGroupMapping('{"cn=ops,ou=groups,dc=example,dc=com": "operator:canary", "/orchard/admins": "admin"}')]).toEqual([
      ["cn=ops,ou=groups,dc=example,dc=com", { role: "operator", rings: ["canary"] }],
      ["/orchard/admins", { role: "admin", rings: null }],
    ]);
    expect([...parseGroupMapping("cn=viewers=viewer")]).toEqual([["cn=viewers", { role: "viewer", rings: null }]]);
  });

  it.each([
    ["orchard-admins=root", /role "root" is not one of viewer, operator, admin/],
    ["orchard-admins=admin:canary", /an admin acts on the whole fleet/],
    ["ops=operator:Canary", /ring "Canary": expected 1 to 40 characters/],
    ["ops=operator:canary:beta", /expected ROLE or ROLE:RING\+RING/],
    ["ops", /expected GROUP=ROLE/],
    ["=viewer", /expected GROUP=ROLE/],
    ["a=viewer,a=admin", /group a is mapped twice/],
    ["{not json", /not valid JSON/],
    ['{"a": 1}', /group a: expected a string/],
    ["{}", /maps no group/],
  ])("refuses %s, saying why", (text, why) => {
    expect(() => parseGroupMapping(text)).toThrow(GroupMappingError);
    expect(() => parseGroupMapping(text)).toThrow(why);
  });
});

describe("the grant of a user's groups", () => {
  const mapping = parseGroupMapping(MAPPING);

  it("is null for a user in no mapped group", () => {
    expect(grantOfGroups(mapping, [])).toBeNull();
    expect(grantOfGroups(mapping, ["everyone", "Orchard-Admins"])).toBeNull();
  });

  it("takes the highest role; the rings of that role's groups together, or every ring when one of them is unscoped", () => {
    expect(grantOfGroups(mapping, ["orchard-viewers", "orchard-admins"])).toEqual({ role: "admin", rings: null });
    expect(grantOfGroups(mapping, ["orchard-canary-ops", "orchard-stable-ops"])).toEqual({ role: "operator", rings: ["beta", "canary", "stable"] });
    expect(grantOfGroups(mapping, ["orchard-canary-ops", "orchard-all-ops"])).toEqual({ role: "operator", rings: null });
    // A lower role adds nothing: an unscoped viewer group never widens an operator's rings.
    expect(grantOfGroups(mapping, ["orchard-viewers", "orchard-canary-ops"])).toEqual({ role: "operator", rings: ["beta", "canary"] });
    expect(grantOfGroups(mapping, ["everyone", "orchard-viewers"])).toEqual({ role: "viewer", rings: null });
  });

  it("reads the claim as providers send it", () => {
    expect(groupsOfClaim(["a", 1, "b"])).toEqual(["a", "b"]);
    expect(groupsOfClaim("a")).toEqual(["a"]);
    expect(groupsOfClaim(undefined)).toEqual([]);
    expect(groupsOfClaim({ a: 1 })).toEqual([]);
  });
});
