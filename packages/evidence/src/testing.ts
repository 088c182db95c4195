// Test fixtures: events shaped like the event store's StoredEvent, signed and chained as a writer would.
import type { EvidenceEvent } from "./canonical.js";
import { withEvidence } from "./canonical.js";
import { chainLinkOf, StreamChainer } from "./chain.js";
import type { SigningKey } from "./keys.js";
import { Sealer, type Seal } from "./seal.js";
import { signEvent } from "./sign.js";
import type { LoggedEvent } from "./verify-log.js";

export interface FixtureEvent extends LoggedEvent {
  readonly revision: bigint;
  readonly time: Date;
  readonly position: { readonly commit: bigint; readonly prepare: bigint };
  readonly data: Record<string, unknown>;
  readonly metadata: {
    readonly correlationId: string;
    readonly causationId: string | null;
    readonly department: string;
    readonly evidence?: unknown;
  };
}

export function licenceEvent(stream: string, revision: bigint, department: string, n: number): Omit<FixtureEvent, "position"> {
  return {
    id: `0190a6f2-${String(n).padStart(4, "0")}-7000-8000-${stream
      .replace(/[^0-9a-z]/gi, "")
      .slice(0, 12)
      .padEnd(12, "0")}`,
    type: revision === 0n ? "LicenceGranted" : "InspectionRecorded",
    stream,
    revision,
    time: new Date(Date.UTC(2026, 2, 2, 9, 0, 0, n)),
    data: {
      caseId: stream,
      holder: { name: "福州市鼓楼区示范餐饮管理有限公司", uscc: "91350100M000100Y43" },
      seq: n,
      fee: 12.5,
      underCommitment: n % 2 === 0,
    },
    metadata: { correlationId: `corr-${n}`, causationId: null, department },
  };
}

/** A log of `count` events over `streams` streams, round robin, each signed by its department's key, chained per stream. */
export function buildLog(
  count: number,
  streams: number,
  departments: readonly { readonly code: string; readonly key: SigningKey }[],
): FixtureEvent[] {
  const chainer = new StreamChainer();
  const revisions = new Map<string, bigint>();
  const out: FixtureEvent[] = [];
  for (let n = 0; n < count; n++) {
    const stream = `licence-SP-350100-2026-${String(n % streams).padStart(6, "0")}`;
    const revision = revisions.get(stream) ?? 0n;
    revisions.set(stream, revision + 1n);
    const dept = departments[(n % streams) % departments.length]!;
    const bare = {
      ...licenceEvent(stream, revision, dept.code, n),
      position: { commit: 1000n + BigInt(Math.floor(n / 3)), prepare: BigInt(n) },
    };
    const signed = withEvidence(bare, { signature: signEvent(bare, dept.key) });
    out.push(chainer.link(signed));
  }
  return out;
}

/** Seals consecutive blocks of `blockSize`; a trailing partial block is left unsealed. */
export function sealLog(events: readonly FixtureEvent[], bus: SigningKey, blockSize: number): Seal[] {
  const sealer = new Sealer({ signer: bus, blockSize });
  const seals: Seal[] = [];
  for (const event of events) {
    const seal = sealer.add(event.position, chainLinkOf(event)!.hash, new Date(Date.UTC(2026, 2, 2, 10)));
    if (seal) seals.push(seal);
  }
  return seals;
}

/** A deep copy with `edit` applied to the copy of event `index`. */
export function tamper<E extends EvidenceEvent>(events: readonly E[], index: number, edit: (event: E) => E): E[] {
  return events.map((e, i) => (i === index ? edit(structuredClone(e)) : e));
}
