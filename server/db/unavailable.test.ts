import { describe, expect, it } from "vitest";
import { isDatabaseUnavailable } from "./unavailable";

describe("isDatabaseUnavailable", () => {
  it.each([
    ["a refused connection", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })],
    ["PostgreSQL shutting down", Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })],
    ["a connection exception", Object.assign(new Error("connection failure"), { code: "08006" })],
    ["Prisma unable to reach the server", Object.assign(new Error("Can't reach database server at 127.0.0.1:5432"), { code: "P1001" })],
    ["pg's dropped connection", new Error("Connection terminated unexpectedly")],
    ["a pool client whose connection failed", new Error("Client has encountered a connection error and is not queryable")],
    ["a closed pool client", new Error("Client was closed and is not queryable")],
    ["the cause of a wrapped error", new Error("query failed", { cause: Object.assign(new Error("x"), { code: "57P03" }) })],
  ])("says yes for %s", (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ["a unique violation", Object.assign(new Error("duplicate key value"), { code: "23505" })],
    ["a deadlock", Object.assign(new Error("deadlock detected"), { code: "40P01" })],
    ["a syntax error", Object.assign(new Error('syntax error at or near "SELEC"'), { code: "42601" })],
    ["a plain error", new Error("boom")],
    ["no error at all", undefined],
  ])("says no for %s", (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
