import { WireFormatError } from "./errors.js";

/**
 * Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the
 * Avro binary body. Two tiny pure functions, so any Confluent deserializer
 * (Java, kcat -s avro, Python) reads our topics and we read theirs.
 */
export const MAGIC_BYTE = 0;
export const HEADER_LENGTH = 5;

export function writeHeader(buf: Buffer, schemaId: number): void {
  buf[0] = MAGIC_BYTE;
  buf.writeUInt32BE(schemaId, 1);
}

export function encodeFrame(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  writeHeader(out, schemaId);
  body.copy(out, HEADER_LENGTH);
  return out;
}

export function readSchemaId(frame: Buffer): number {
  if (frame.length < HEADER_LENGTH) {
    throw new WireFormatError(`message is ${frame.length} bytes; a Confluent frame has at least ${HEADER_LENGTH}`);
  }
  if (frame[0] !== MAGIC_BYTE) {
    throw new WireFormatError(`first byte is ${frame[0]}, not the Confluent magic byte ${MAGIC_BYTE}`);
  }
  return frame.readUInt32BE(1);
}

export function decodeFrame(frame: Buffer): { schemaId: number; body: Buffer } {
  return { schemaId: readSchemaId(frame), body: frame.subarray(HEADER_LENGTH) };
}
