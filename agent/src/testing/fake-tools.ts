// Fake executables on PATH for the command layer's tests: each records its
// arguments (one JSON line per call) and answers from rules the test sets,
// the first rule whose arguments start the call's arguments winning.
import { readFileSync, writeFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Run, runCommand } from "../command.ts";
import { tempDir } from "./test-agent.ts";

export interface FakeAnswer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
}

interface Rule extends FakeAnswer {
  tool: string;
  args: string[];
}

export interface Call {
  tool: string;
  args: string[];
}

/** The fake itself: a Node script that logs its call and answers by the rules file beside it. */
function fakeScript(tool: string, dir: string): string {
  const rules = JSON.stringify(path.join(dir, "rules.json"));
  const calls = JSON.stringify(path.join(dir, "calls.log"));
  return `#!${process.execPath}
const fs = require("node:fs");
const args = process.argv.slice(2);
fs.appendFileSync(${calls}, JSON.stringify({ tool: ${JSON.stringify(tool)}, args }) + "\\n");
const rules = JSON.parse(fs.readFileSync(${rules}, "utf8"));
const rule = rules.find((r) => r.tool === ${JSON.stringify(tool)} && r.args.every((a, i) => args[i] === a));
if (!rule) {
  process.stderr.write("fake ${tool}: no rule for " + JSON.stringify(args) + "\\n");
  process.exit(64);
}
process.stdout.write(rule.stdout ?? "");
process.stderr.write(rule.stderr ?? "");
process.exit(rule.exitCode ?? 0);
`;
}

export class FakeTools {
  private rules: Rule[] = [];

  private constructor(readonly dir: string) {}

  static async create(tools: string[]): Promise<FakeTools> {
    const dir = await tempDir();
    const fakes = new FakeTools(dir);
    fakes.save();
    writeFileSync(path.join(dir, "calls.log"), "");
    for (const tool of tools) {
      const file = path.join(dir, tool);
      await writeFile(file, fakeScript(tool, dir));
      await chmod(file, 0o755);
    }
    return fakes;
  }

  /** Answers calls of `tool` whose arguments start with `args`; a later rule for the same call wins. */
  on(tool: string, args: string[], answer: FakeAnswer = {}): this {
    this.rules.unshift({ tool, args, ...answer });
    this.save();
    return this;
  }

  /** A Run that finds the fakes first on PATH. */
  get run(): Run {
    return (file, args, options = {}) =>
      runCommand(file, args, { ...options, env: { ...process.env, ...options.env, PATH: `${this.dir}:${process.env.PATH}` } });
  }

  calls(): Call[] {
    const text = readFileSync(path.join(this.dir, "calls.log"), "utf8");
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Call);
  }

  /** Every call so far as a command line, e.g. `rpm-ostree deploy 0dfd…`. */
  commandLines(): string[] {
    return this.calls().map((c) => [c.tool, ...c.args].join(" "));
  }

  clearCalls() {
    writeFileSync(path.join(this.dir, "calls.log"), "");
  }

  private save() {
    writeFileSync(path.join(this.dir, "rules.json"), JSON.stringify(this.rules));
  }
}
