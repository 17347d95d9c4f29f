// A real OpenID Connect provider for the browser tests: the `oidc-provider`
// package (a certified implementation) on a local port, with one client and
// users whose groups the test chooses. Its own development login and consent
// pages are what the browser goes through (any password signs in; the login
// name is the user's subject).
import type http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export interface OidcUser {
  email: string;
  name: string;
  groups: string[];
}

export interface RunningProvider {
  issuer: string;
  /** Changes what the provider says about a user from the next sign-in on. */
  users: Map<string, OidcUser>;
  stop(): Promise<void>;
}

export async function startOidcProvider(options: {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  users: Record<string, OidcUser>;
}): Promise<RunningProvider> {
  const users = new Map(Object.entries(options.users));
  // The port first, so that the issuer URL can name it.
  const { createServer } = await import("node:net");
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
    ],
    // `groups` is released with its own scope, as Okta does: the console asks for it (ORCHARD_OIDC_SCOPES).
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["orchard-e2e-oidc-cookie-key-0123456789"] },
    async findAccount(_ctx, accountId) {
      const user = users.get(accountId);
      if (!user) return undefined;
      return { accountId, claims: async () => ({ sub: accountId, email: user.email, email_verified: true, name: user.name, groups: user.groups }) };
    },
  });
  const server: http.Server = provider.listen(port, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  let stopped: Promise<void> | null = null;
  return {
    issuer,
    users,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
