import type { Metadata } from "next";
import { Suspense } from "react";
import { PathsView } from "./paths-view";

export const metadata: Metadata = { title: "Update paths" };

export default function UpdatePathsPage() {
  return (
    <Suspense>
      <PathsView />
    </Suspense>
  );
}
