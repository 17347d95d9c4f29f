import NextAuth from "next-auth";
import type { NextRequest } from "next/server";
import { authOptions } from "@/server/auth/next-auth";
import { SIGN_IN_GATE_HEADER } from "@/server/auth/sign-in-gate";

type Context = { params: Promise<{ nextauth: string[] }> };

/** next-auth with this request's options: the console's sign-in stamp goes with it (server/auth/sign-in-gate.ts). */
function handler(req: NextRequest, context: Context) {
  return NextAuth(req, context, authOptions(req.headers.get(SIGN_IN_GATE_HEADER) ?? undefined));
}
export { handler as GET, handler as POST };
