import type { Metadata } from "next";
import { Suspense } from "react";
import { NewRolloutView } from "./new-rollout-view";

export const metadata: Metadata = { title: "New rollout" };

export default function NewRolloutPage() {
  return (
    <Suspense>
      <NewRolloutView />
    </Suspense>
  );
}
