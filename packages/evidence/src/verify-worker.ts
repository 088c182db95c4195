// Runs in a worker thread of SignatureWorkerPool: verifies batches of signatures.
import { parentPort, workerData } from "node:worker_threads";
import { VerifyingKey } from "./keys.js";
import type { WorkerBatch, WorkerKeys, WorkerReply } from "./pool.js";

const port = parentPort;
if (port === null) throw new Error("verify-worker must run in a worker thread");
const keys = (workerData as WorkerKeys).keys.map((k) => {
  const key = VerifyingKey.from(k.spki);
  if (key.keyId !== k.keyId) throw new Error(`key id mismatch for ${k.keyId}`);
  return key;
});

port.on("message", (batch: WorkerBatch) => {
  let reply: WorkerReply;
  try {
    const n = batch.keyIndex.length;
    let messageAt = 0;
    let signatureAt = 0;
    for (let i = 0; i < n; i++) signatureAt += batch.lengths[2 * i]!;
    const failed: number[] = [];
    for (let i = 0; i < n; i++) {
      const messageLength = batch.lengths[2 * i]!;
      const signatureLength = batch.lengths[2 * i + 1]!;
      const message = batch.bytes.subarray(messageAt, messageAt + messageLength);
      const signature = batch.bytes.subarray(signatureAt, signatureAt + signatureLength);
      messageAt += messageLength;
      signatureAt += signatureLength;
      if (!keys[batch.keyIndex[i]!]!.verify(message, signature)) failed.push(i);
    }
    reply = { id: batch.id, failed };
  } catch (error) {
    reply = { id: batch.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true });
