// `npm run bench`: throughput figures, each beside a baseline measured in the
// same run on the same machine (these machines are shared and noisy, so the
// ratio is the figure to compare). Needs PostgreSQL (TEST_DATABASE_URL,
// default the local server); creates and drops its own databases.
// BENCH_JSON=1 prints the figures as JSON too; BENCH_ONLY=checkins|enroll|controller|pages|agent runs one.
import { benchAgent } from "./agent";
import { benchCheckins } from "./checkin";
import { benchController } from "./controller";
import { benchEnroll } from "./enroll";
import { benchPages } from "./pages";

const only = process.env.BENCH_ONLY;
const results: Record<string, unknown> = {};
if (!only || only === "checkins") {
  results.checkins = await benchCheckins({
    machines: Number(process.env.BENCH_MACHINES ?? 1000),
    connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
    seconds: Number(process.env.BENCH_SECONDS ?? 10),
  });
}
if (!only || only === "enroll") {
  results.enroll = await benchEnroll({
    connections: Number(process.env.BENCH_ENROLL_CONNECTIONS ?? 100),
    seconds: Number(process.env.BENCH_SECONDS ?? 10),
    agentPool: Number(process.env.BENCH_AGENT_POOL ?? 10),
  });
}
if (!only || only === "controller") {
  results.controller = await benchController({ machines: Number(process.env.BENCH_RING_MACHINES ?? 100_000) });
}
if (!only || only === "pages") {
  results.pages = await benchPages({ machines: Number(process.env.BENCH_PAGE_MACHINES ?? 100_000) });
}
if (!only || only === "agent") {
  results.agent = await benchAgent();
}
if (process.env.BENCH_JSON) console.log(JSON.stringify(results, null, 2));
