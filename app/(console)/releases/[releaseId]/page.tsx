import type { Metadata } from "next";
import { ReleaseDetail } from "./release-detail";

interface Props {
  params: Promise<{ releaseId: string }>;
}

export const metadata: Metadata = { title: "Release" };

export default async function ReleasePage({ params }: Props) {
  const { releaseId } = await params;
  return <ReleaseDetail releaseId={decodeURIComponent(releaseId)} />;
}
