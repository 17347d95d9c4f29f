import type { Metadata } from "next";
import { MachineDetail } from "./machine-detail";

interface Props {
  params: Promise<{ machineId: string }>;
}

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { machineId } = await params;
  return { title: decodeURIComponent(machineId) };
}

export default async function MachinePage({ params }: Props) {
  const { machineId } = await params;
  return <MachineDetail machineId={decodeURIComponent(machineId)} />;
}
