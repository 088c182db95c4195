#!/usr/bin/env node
// The package ships TypeScript sources (like every workspace package): tsx loads them.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
