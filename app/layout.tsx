import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

// Every page is rendered per request, so that Next.js puts the request's CSP
// nonce on its scripts (server/http/csp.ts); a page prerendered at build time
// would carry none, and its scripts would be refused.
export const dynamic = "force-dynamic";

export const metadata: Metadata = {
  title: { default: "Orchard", template: "%s · Orchard" },
  description: "Fleet console for image-based Linux machines",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
