import { listChangedPaths } from "../../releases/changes";
import { addRelease, getRelease, listBranches, listReleases, listReleasesPage } from "../../releases/releases";
import {
  addReleaseInput,
  blockPathInput,
  blockPathOutput,
  branchesOutput,
  changedPathsInput,
  changedPathsOutput,
  getReleaseInput,
  listReleasesInput,
  listReleasesPageInput,
  releaseDetailOutput,
  releaseListOutput,
  releasePageOutput,
  releaseSchema,
  setFloorInput,
  setFloorOutput,
  unblockPathInput,
  unblockPathOutput,
  updateGraphInput,
  updateGraphOutput,
} from "../../releases/schemas";
import { blockPath, setFloor, unblockPath, updateGraph } from "../../releases/update-paths";
import { brakeRelease, liftQuarantine, previewBrake } from "../../rollouts/rollouts";
import { brakeInput, brakeOutput, brakePreviewOutput, liftQuarantineInput, liftQuarantineOutput } from "../../rollouts/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";
import { artifactsDir, listArtifacts, removeArtifact } from "../../artifacts/artifacts";
import { artifactListOutput, listArtifactsInput, removeArtifactInput, removeArtifactOutput } from "../../artifacts/schemas";

export const releasesRouter = router({
  /** A release's artifacts (upload and download: PUT and GET /api/v1/releases/{releaseId}/artifacts/{name}). */
  artifacts: viewerProcedure
    .meta({ rings: "none" })
    .input(listArtifactsInput)
    .output(artifactListOutput)
    .query(({ ctx, input }) => listArtifacts(ctx.db.prisma, input)),
  /** Removes an artifact (audited): its file serves every ring that runs the release, so a fleet-wide operator's. */
  removeArtifact: operatorProcedure
    .meta({ rings: "fleet" })
    .input(removeArtifactInput)
    .output(removeArtifactOutput)
    .mutation(({ ctx, input }) => removeArtifact(ctx.db.prisma, ctx.actor, input, ctx.artifactsDir ?? artifactsDir())),
  list: viewerProcedure
    .meta({ rings: "none" })
    .input(listReleasesInput)
    .output(releaseListOutput)
    .query(({ ctx, input }) => listReleases(ctx.db.prisma, input)),
  /** A page of the releases table: server-side filter, sort and paging. */
  page: viewerProcedure
    .meta({ rings: "none" })
    .input(listReleasesPageInput)
    .output(releasePageOutput)
    .query(({ ctx, input }) => listReleasesPage(ctx.db.prisma, input)),
  /** One release: signature, floor, source, the rings that run it or are getting it, its rollouts, what changed since the previous one. */
  get: viewerProcedure
    .meta({ rings: "none" })
    .input(getReleaseInput)
    .output(releaseDetailOutput)
    .query(({ ctx, input }) => getRelease(ctx.db.prisma, input)),
  /** A page of the paths a release changed since the previous release of its branch (as stored when its source brought it). */
  changedPaths: viewerProcedure
    .meta({ rings: "none" })
    .input(changedPathsInput)
    .output(changedPathsOutput)
    .query(({ ctx, input }) => listChangedPaths(ctx.db.prisma, input)),
  /** Every branch (ostree ref) that rings or releases use. */
  branches: viewerProcedure
    .meta({ rings: "none" })
    .output(branchesOutput)
    .query(({ ctx }) => listBranches(ctx.db.prisma)),
  add: operatorProcedure
    .meta({ rings: "none" })
    .input(addReleaseInput)
    .output(releaseSchema)
    .mutation(({ ctx, input }) => addRelease(ctx.db.prisma, ctx.actor, input)),
  /** The emergency brake: pause (or revert) every rollout of the release and quarantine it. */
  brake: operatorProcedure
    .meta({ rings: "fleet" })
    .input(brakeInput)
    .output(brakeOutput)
    .mutation(({ ctx, input }) => brakeRelease(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** What the brake would do now: rollouts that stop, machines that cancel, machines already on it. */
  brakePreview: viewerProcedure
    .meta({ rings: "none" })
    .input(brakeInput.pick({ version: true, ref: true }))
    .output(brakePreviewOutput)
    .query(({ ctx, input }) => previewBrake(ctx.db.prisma, input)),
  /** Lifts a quarantine (audited, with a reason); nothing restarts by itself. */
  liftQuarantine: operatorProcedure
    .meta({ rings: "fleet" })
    .input(liftQuarantineInput)
    .output(liftQuarantineOutput)
    .mutation(({ ctx, input }) => liftQuarantine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** Marks or unmarks a floor: every machine older than it boots it before anything newer (every ring of the branch). */
  setFloor: operatorProcedure
    .meta({ rings: "fleet" })
    .input(setFloorInput)
    .output(setFloorOutput)
    .mutation(({ ctx, input }) => setFloor(ctx.db.prisma, ctx.actor, input)),
  /** Blocks the direct paths from releases to a newer one (every ring of the branch). */
  blockPath: operatorProcedure
    .meta({ rings: "fleet" })
    .input(blockPathInput)
    .output(blockPathOutput)
    .mutation(({ ctx, input }) => blockPath(ctx.db.prisma, ctx.actor, input)),
  unblockPath: operatorProcedure
    .meta({ rings: "fleet" })
    .input(unblockPathInput)
    .output(unblockPathOutput)
    .mutation(({ ctx, input }) => unblockPath(ctx.db.prisma, ctx.actor, input)),
  /** The branch's update graph: releases in order, floors, blocked paths, machines of each ring on each release. */
  graph: viewerProcedure
    .meta({ rings: "scoped" })
    .input(updateGraphInput)
    .output(updateGraphOutput)
    .query(({ ctx, input }) => updateGraph(ctx.db.prisma, input, ctx.actor.rings)),
});
