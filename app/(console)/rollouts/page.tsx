import type { Metadata } from "next";
import { Suspense } from "react";
import { RolloutsView } from "./rollouts-view";

export const metadata: Metadata = { title: "Rollouts" };

export default function RolloutsPage() {
  return (
    <Suspense>
      <RolloutsView />
    </Suspense>
  );
}
