// Prisma CLI configuration: the JavaScript schema engine with the pg driver
// adapter, so that generate and migrate run offline (see README, "Database").
import { defineConfig } from "prisma/config";
import { createMigrationAdapter } from "./server/db/migration-adapter";

// The CLI insists on the variable even where the adapter supplies the connection.
process.env.DATABASE_URL ??= "postgresql://postgres@127.0.0.1:5432/postgres";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  adapter: async () => createMigrationAdapter(process.env.DATABASE_URL as string),
});
