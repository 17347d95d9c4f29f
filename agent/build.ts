// `tsx agent/build.ts [outfile]`: bundles orchard-agent, with its
// dependencies, into one JavaScript file that Node 20+ runs as it is
// (default dist/orchard-agent.js). Copy that file and agent/orchard-agent.service
// to a machine, or into its image.
import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");
export const DEFAULT_OUTFILE = path.join(root, "dist/orchard-agent.js");

export async function buildAgent(outfile = DEFAULT_OUTFILE): Promise<string> {
  await mkdir(path.dirname(outfile), { recursive: true });
  await build({
    entryPoints: [path.join(root, "agent/src/main.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    // commander is CommonJS and requires Node's modules: an ES module bundle needs `require` back.
    banner: {
      js: [
        "#!/usr/bin/env node",
        "// orchard-agent: built from agent/src by agent/build.ts.",
        'import { createRequire as __createRequire } from "node:module";',
        "const require = __createRequire(import.meta.url);",
      ].join("\n"),
    },
  });
  await chmod(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outfile = await buildAgent(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUTFILE);
  console.log(`built ${path.relative(process.cwd(), outfile)}`);
}
