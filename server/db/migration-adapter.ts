// The driver adapter that the Prisma CLI uses (see prisma.config.ts): for
// `migrate deploy`, and for `migrate diff --from-migrations`, which applies
// every migration to a shadow database and reads its schema back.
//
// Three fixes over @prisma/adapter-pg 7.10.1:
// - It runs a migration script by splitting it on ";", which breaks
//   dollar-quoted function bodies and applies a migration statement by
//   statement. PostgreSQL's simple query protocol takes the whole script at
//   once and runs it as one implicit transaction, so a migration applies
//   entirely or not at all.
// - It refuses result columns of PostgreSQL's one-byte type "char"
//   (pg_constraint.contype, pg_class.relkind…), which the schema engine reads
//   when it describes a database ("Column type 'char' could not be
//   deserialized"). Such a column passes the adapter as text and is handed on
//   as Character, the type the schema engine reads it as.
// - Its shadow database pool keeps the connection string's database (so the
//   "shadow" is the real database) and drops the shadow database before
//   closing its pool. Here the shadow is a fresh database beside the
//   connection string's, dropped after its pool is closed.
import { randomUUID } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";

interface PgAdapterInternals {
  client: pg.Pool | pg.PoolClient;
  onError(error: unknown): never;
  performIO(query: object): Promise<pg.QueryResult | pg.QueryResult[]>;
}

type Adapter = Awaited<ReturnType<PrismaPg["connect"]>>;

const CHAR_OID = 18;
const TEXT_OID = 25;
/** ColumnTypeEnum.Character of @prisma/driver-adapter-utils (the adapter's own dependency). */
const CHARACTER_COLUMN = 6;

function patch(adapter: Adapter): Adapter {
  const internals = adapter as unknown as PgAdapterInternals;
  // queryRaw maps each result column's type right after performIO: "char"
  // columns leave performIO as text, noted per query, and queryRaw's answer
  // is corrected.
  const charColumns = new WeakMap<object, number[]>();
  const performIO = internals.performIO.bind(adapter);
  internals.performIO = async (query) => {
    const result = await performIO(query);
    // A script of several statements answers with one result per statement.
    if (!Array.isArray(result)) {
      const columns: number[] = [];
      result.fields.forEach((field, i) => {
        if (field.dataTypeID !== CHAR_OID) return;
        field.dataTypeID = TEXT_OID;
        columns.push(i);
      });
      if (columns.length > 0) charColumns.set(query, columns);
    }
    return result;
  };
  const queryRaw = adapter.queryRaw.bind(adapter);
  adapter.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const i of charColumns.get(query) ?? []) result.columnTypes[i] = CHARACTER_COLUMN;
    charColumns.delete(query);
    return result;
  };
  adapter.executeScript = async function executeScript(script: string) {
    const self = this as unknown as PgAdapterInternals;
    try {
      await self.client.query(script);
    } catch (error) {
      self.onError(error);
    }
  };
  return adapter;
}

async function admin(connectionString: string, sql: string) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function createMigrationAdapter(connectionString: string): PrismaPg {
  const factory = new PrismaPg({ connectionString, max: 1 });
  const connect = factory.connect.bind(factory);
  factory.connect = async () => patch(await connect());
  factory.connectToShadowDb = async () => {
    // Named after the connection string's database, so that whoever drops
    // that one's siblings (the tests drop their run's prefix) drops it too.
    const url = new URL(connectionString);
    const base = decodeURIComponent(url.pathname.slice(1)) || "postgres";
    const name = `${base}_shadow_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await admin(connectionString, `CREATE DATABASE "${name}"`);
    url.pathname = `/${name}`;
    const adapter = patch(await new PrismaPg({ connectionString: url.toString(), max: 1 }).connect());
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await admin(connectionString, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    };
    return adapter;
  };
  return factory;
}
