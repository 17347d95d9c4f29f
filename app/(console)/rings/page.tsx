import type { Metadata } from "next";
import { RingsView } from "./rings-view";

export const metadata: Metadata = { title: "Rings" };

export default function RingsPage() {
  return <RingsView />;
}
