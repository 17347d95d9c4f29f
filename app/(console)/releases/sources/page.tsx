import type { Metadata } from "next";
import { Suspense } from "react";
import { SourcesView } from "./sources-view";

export const metadata: Metadata = { title: "Release sources" };

export default function SourcesPage() {
  return (
    <Suspense>
      <SourcesView />
    </Suspense>
  );
}
