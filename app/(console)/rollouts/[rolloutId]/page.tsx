import type { Metadata } from "next";
import { Suspense } from "react";
import { RolloutDetail } from "./rollout-detail";

interface Props {
  params: Promise<{ rolloutId: string }>;
}

export const metadata: Metadata = { title: "Rollout" };

export default async function RolloutPage({ params }: Props) {
  const { rolloutId } = await params;
  return (
    <Suspense>
      <RolloutDetail rolloutId={decodeURIComponent(rolloutId)} />
    </Suspense>
  );
}
