// Runs in a worker thread of SigningPool: signs batches of canonical event bytes.
import { parentPort } from "node:worker_threads";
import { SigningKey } from "./keys.js";
import type { SigningBatch, SigningReply } from "./signing-pool.js";

const port = parentPort;
if (port === null) throw new Error("sign-worker must run in a worker thread");
// Parsed once per worker: the pool sends each key once, then only its id.
const keys = new Map<string, SigningKey>();

port.on("message", (batch: SigningBatch) => {
  let reply: SigningReply;
  try {
    for (const k of batch.keys) {
      const key = SigningKey.from(k.pkcs8);
      if (key.keyId !== k.keyId) throw new Error(`key id mismatch for ${k.keyId}`);
      keys.set(k.keyId, key);
    }
    const sigs: string[] = [];
    let at = 0;
    batch.keyIds.forEach((keyId, i) => {
      const length = batch.lengths[i]!;
      const key = keys.get(keyId);
      if (key === undefined) throw new Error(`key ${keyId} was never sent to this worker`);
      sigs.push(key.sign(batch.bytes.subarray(at, at + length)).toString("base64"));
      at += length;
    });
    reply = { id: batch.id, sigs };
  } catch (error) {
    reply = { id: batch.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
