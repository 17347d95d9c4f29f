// `npm run bench`: throughput figures, each beside a baseline measured in the
// same run on the same machine (these machines are shared and noisy, so the
// ratio is the figure to compare). Needs PostgreSQL (TEST_DATABASE_URL,
// default the local server); creates and drops its own database.
// BENCH_JSON=1 prints the figures as JSON too.
import { benchCheckins } from "./checkin";

const checkins = await benchCheckins({
  machines: Number(process.env.BENCH_MACHINES ?? 1000),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
});
if (process.env.BENCH_JSON) console.log(JSON.stringify({ checkins }, null, 2));
