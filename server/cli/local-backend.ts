// The command line's local backend: the console's own procedures on the
// configured database, as the person running the command (server/cli/backend.ts
// loads it only for a local command).
import os from "node:os";
import fs from "node:fs";
import { problem, problemOf, problemOfDomain } from "../api/problem";
import { actorOf, type Principal } from "../auth/principal";
import { type Config, loadConfig, signInPolicyOf } from "../config";
import { systemClock } from "../clock";
import { type Database, openDatabase } from "../db/client";
import { KEY_VARIABLE, loadSecretBox, SecretBox } from "../secret-box";
import { sourcesWorkDir } from "../release-sources/sources";
import { artifactsDir } from "../artifacts/artifacts";
import { sealStoredSecrets } from "../sealing";
import { createCaller } from "../trpc/router";
import { type Backend, CliFailure } from "./backend";

/** The person running the command line, for the audit log (`cli:<login>`). */
function localPrincipal(): Principal {
  let login = process.env.SUDO_USER || process.env.USER || "unknown";
  try {
    login = process.env.SUDO_USER || os.userInfo().username;
  } catch {
    // No passwd entry (a container's numeric user): the environment's name stands.
  }
  return { kind: "cli", id: "cli", name: login, role: "admin", rings: null };
}

export function localBackend(): Backend {
  let database: Database | null = null;
  let config: Config | null = null;
  const settings = () => (config ??= loadConfig());
  let box: SecretBox | null = null;
  /** The console's encryption key, as the console has it; never a new one (the console would not have it). */
  const secretBox = () => {
    if (box) return box;
    try {
      box = loadSecretBox(settings(), { create: false });
    } catch (error) {
      box = SecretBox.unavailable(
        `${(error as Error).message}: run this where the console keeps its data folder, set ${KEY_VARIABLE} to the console's key, ` +
          "or go through the console's REST API (ORCHARD_URL and ORCHARD_TOKEN)",
      );
    }
    return box;
  };
  const db = async () => {
    if (database) return database;
    database = await openDatabase({ databaseUrl: settings().DATABASE_URL, dataDir: settings().dataDir, poolSize: 2 });
    // As the console does at start: secrets from before they were sealed are sealed (when this has the key).
    if (secretBox().keyId) await sealStoredSecrets(database.prisma, secretBox());
    return database;
  };
  const principal = localPrincipal();
  return {
    kind: "local",
    async call(procedure, input) {
      const open = await db();
      // The console's own settings, as its procedures see them in the console process.
      const webhookPolicy = { allowPrivate: settings().ORCHARD_WEBHOOKS_ALLOW_PRIVATE };
      let target: unknown = createCaller({
        db: open,
        clock: systemClock,
        principal,
        webhookPolicy,
        secretBox: secretBox(),
        signIn: signInPolicyOf(settings()),
        sourcesDir: sourcesWorkDir(settings().dataDir),
        artifactsDir: artifactsDir(settings().dataDir),
      });
      for (const part of procedure.split(".")) target = (target as Record<string, unknown>)[part];
      try {
        return (await (target as (input: unknown) => Promise<unknown>)(input)) as never;
      } catch (error) {
        throw new CliFailure(problemOf(error));
      }
    },
    async uploadArtifact(upload) {
      const open = await db();
      const { storeArtifact } = await import("../artifacts/artifacts");
      try {
        return await storeArtifact(
          open.prisma,
          actorOf(principal),
          { releaseId: upload.releaseId, name: upload.name, sha256: upload.sha256, contentType: upload.contentType },
          fs.createReadStream(upload.file),
          { dir: artifactsDir(settings().dataDir), maxBytes: settings().ORCHARD_ARTIFACT_MAX_BYTES, declaredSize: fs.statSync(upload.file).size },
        );
      } catch (error) {
        throw new CliFailure(problemOfDomain(error) ?? problemOf(error));
      }
    },
    async *auditCsv(filter) {
      const { auditCsv } = await import("../audit/list-audit");
      try {
        yield* auditCsv((await db()).prisma, filter);
      } catch (error) {
        const { ZodError } = await import("zod");
        if (error instanceof ZodError) throw new CliFailure(problem(400, "INVALID", error.issues[0]?.message ?? "bad filter"));
        throw error;
      }
    },
    async close() {
      await database?.close();
      database = null;
    },
  };
}

