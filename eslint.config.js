// Lint gate: zero warnings (npm run lint). Next's rules for the pages,
// typescript-eslint everywhere, and the layering rule: only the domain layer
// (server/) touches the database module.
import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const databaseModule = {
  group: ["**/db/client", "**/db/client.ts", "**/db/generated/**", "@/server/db/*", "@prisma/client", "pg"],
  message: "Only the domain layer (server/) talks to the database.",
  allowTypeImports: true,
};

const config = [
  {
    ignores: [
      ".next/**",
      "node_modules/**",
      "server/db/generated/**",
      "dist/**",
      ".orchard/**",
      "scratch/**",
      "test-results/**",
      "playwright-report/**",
      "next-env.d.ts",
    ],
  },
  ...nextVitals,
  ...nextTs,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["app/**", "components/**", "agent/**"],
    rules: { "@typescript-eslint/no-restricted-imports": ["error", { patterns: [databaseModule] }] },
  },
];

export default config;
