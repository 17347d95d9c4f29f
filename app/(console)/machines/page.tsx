import type { Metadata } from "next";
import { Suspense } from "react";
import { MachinesView } from "./machines-view";

export const metadata: Metadata = { title: "Machines" };

export default function MachinesPage() {
  return (
    <Suspense>
      <MachinesView />
    </Suspense>
  );
}
