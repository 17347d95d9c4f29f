// The driver adapter that the Prisma CLI uses for `migrate deploy` (see
// prisma.config.ts).
//
// @prisma/adapter-pg runs a migration script by splitting it on ";", which
// breaks dollar-quoted function bodies and applies a migration statement by
// statement. PostgreSQL's simple query protocol takes the whole script at
// once and runs it as one implicit transaction, so a migration applies
// entirely or not at all.
import { PrismaPg } from "@prisma/adapter-pg";
import type pg from "pg";

interface PgAdapterInternals {
  client: pg.Pool | pg.PoolClient;
  onError(error: unknown): never;
}

export function createMigrationAdapter(connectionString: string): PrismaPg {
  const factory = new PrismaPg({ connectionString, max: 1 });
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    adapter.executeScript = async function executeScript(script: string) {
      const self = this as unknown as PgAdapterInternals;
      try {
        await self.client.query(script);
      } catch (error) {
        self.onError(error);
      }
    };
    return adapter;
  };
  return factory;
}
