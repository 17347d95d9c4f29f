#!/usr/bin/env node
// The orchard-agent command: runs agent/src/main.ts through tsx.
import { register } from "tsx/esm/api";

register();
await import("../agent/src/main.ts");
