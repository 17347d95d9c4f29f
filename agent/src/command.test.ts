import { describe, expect, it } from "vitest";
import { CommandError, runCommand } from "./command.ts";

async function failure(promise: Promise<unknown>): Promise<CommandError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CommandError);
  return error as CommandError;
}

describe("runCommand", () => {
  it("gives stdout and stderr of a command that succeeds", async () => {
    expect(await runCommand("sh", ["-c", "echo out; echo err >&2"])).toEqual({ stdout: "out\n", stderr: "err\n" });
  });

  it("says why a command failed, with what it said", async () => {
    const exited = await failure(runCommand("sh", ["-c", "echo partial; echo 'error: no space left' >&2; exit 3"]));
    expect(exited).toMatchObject({ exitCode: 3, stdout: "partial\n", reason: "exited with 3: error: no space left" });
    expect(exited.said).toBe("error: no space left");
    expect((await failure(runCommand("orchard-no-such-tool", []))).reason).toBe("not found");
  });

  it("kills a command and what it started at the timeout", async () => {
    const started = Date.now();
    const slow = await failure(runCommand("sh", ["-c", "sleep 30 & wait"], { timeoutSeconds: 0.2 }));
    expect(slow.reason).toBe("timed out after 0.2 s");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("stops when aborted, with the abort's reason", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("agent stopping")), 50);
    await expect(runCommand("sleep", ["30"], { signal: controller.signal })).rejects.toThrow("agent stopping");
  });
});
