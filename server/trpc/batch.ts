// The most calls one tRPC request may carry. The server refuses a bigger
// batch (tRPC's `maxBatchSize`: 400 BAD_REQUEST, before any session or
// database work) and the console's own client splits its batches to fit
// (httpBatchLink's `maxItems`). Imported by both, so it imports nothing.
// A page of the console asks for a handful of calls at once.
export const MAX_BATCH_SIZE = 20;

/** tRPC's own message for a batch over `maxBatchSize` (11.x), which does not say the limit. */
export const TRPC_BATCH_TOO_BIG = "Batch call exceeds maximum size";

export const batchTooBigMessage = `a batch may hold at most ${MAX_BATCH_SIZE} calls`;
