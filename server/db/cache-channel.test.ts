import { afterEach, describe, expect, it } from "vitest";
import { domainEvents } from "../events";
import { applyNotification } from "./cache-channel";

describe("cache notifications", () => {
  const heard: string[] = [];
  const listeners = {
    machineChanged: (id: string) => heard.push(`machine ${id}`),
    ringChanged: (id: string) => heard.push(`ring ${id}`),
    everythingChanged: () => heard.push("everything"),
  };
  domainEvents.on("machineChanged", listeners.machineChanged);
  domainEvents.on("ringChanged", listeners.ringChanged);
  domainEvents.on("everythingChanged", listeners.everythingChanged);
  afterEach(() => {
    heard.length = 0;
  });

  it("forgets what a trigger's payload names", () => {
    applyNotification("machine:cm1abc");
    applyNotification("ring:cr2def");
    applyNotification("all");
    expect(heard).toEqual(["machine cm1abc", "ring cr2def", "everything"]);
  });

  it("forgets everything for a payload it does not know (a newer version's trigger)", () => {
    applyNotification("release:x");
    applyNotification("machine:");
    applyNotification("");
    expect(heard).toEqual(["everything", "everything", "everything"]);
  });
});
