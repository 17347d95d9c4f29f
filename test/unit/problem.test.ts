// The app marks a form's field from the server's error data, never from the
// message's text.
import { describe, expect, it } from "vitest";
import { invalidIf, problemOf } from "../../components/format";

describe("problemOf and invalidIf", () => {
  it("reads the field and the issues' paths from the error's data", () => {
    const problem = problemOf({ message: "a message that names no field", data: { field: "rings[1]", issues: [{ path: "rings[1]", message: "x" }, { path: "waves", message: "y" }] } });
    expect(invalidIf(problem, "rings")).toEqual({ "aria-invalid": true });
    expect(invalidIf(problem, "waves")).toEqual({ "aria-invalid": true });
    expect(invalidIf(problem, "version")).toEqual({});
  });

  it("ignores a field name in the message's text", () => {
    expect(invalidIf(problemOf({ message: "version: bad", data: {} }), "version")).toEqual({});
    expect(invalidIf(problemOf(null), "version")).toEqual({});
  });

  it("does not take a prefix of another field for the field", () => {
    expect(invalidIf({ message: "x", field: "nameSuffix" }, "name")).toEqual({});
    expect(invalidIf({ message: "x", field: "maintenanceWindows[0].start" }, "maintenanceWindows[0].start")).toEqual({ "aria-invalid": true });
  });
});
