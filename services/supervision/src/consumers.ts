import type { ConsumerSpec } from "@shenguan/eventstore";
import { onLicenceCancelled, onLicenceRevoked, onRevocationDeclined } from "./handoff/incoming.js";
import type { SupervisionService } from "./handoff/service.js";
import { INBOX_EVENTS, INBOX_PROJECTION, inboxChunkStatement, projectInbox, projectInboxChunk } from "./inbox/projection.js";

/**
 * The regulators' inbox (a read model, which also keeps each push for the handoff's stream to begin from) and
 * their reactions to the licence's end upstream.
 */
export function supervisionConsumers(handoffs: SupervisionService): ConsumerSpec[] {
  return [
    {
      name: INBOX_PROJECTION,
      families: ["linkage", "supervision", "approval"],
      mode: "projection",
      types: INBOX_EVENTS,
      handle: (e, tx) => projectInbox(e, tx),
      handleChunk: (events, tx) => projectInboxChunk(events, tx),
      // A chunk of pushes only (the loop's common case): with its claims and offset, one statement and no transaction.
      chunkStatement: (events, at) => inboxChunkStatement(events, at),
    },
    {
      name: "supervision-incoming",
      families: ["approval"],
      mode: "reactor",
      types: ["LicenceCancelled", "LicenceRevoked", "RevocationRequestDeclined"],
      handle: async (e) => {
        if (e.name === "LicenceCancelled") return onLicenceCancelled(handoffs, e.payload, e.ce);
        if (e.name === "LicenceRevoked") return onLicenceRevoked(handoffs, e.payload, e.ce);
        if (e.name === "RevocationRequestDeclined") return onRevocationDeclined(handoffs, e.payload, e.ce);
      },
    },
  ];
}
