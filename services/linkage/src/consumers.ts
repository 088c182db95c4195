import { families } from "@shenguan/contracts";
import type { ConsumerSpec } from "@shenguan/eventstore";
import { LINKAGE_PROJECTION, type LinkageHandler } from "./projection.js";

/** Linkage reads every family, its own echoes included: routing, handoffs, deadlines, feedback, credit standing, indicators. */
export function linkageConsumers(handle: LinkageHandler): ConsumerSpec[] {
  return [
    {
      name: LINKAGE_PROJECTION,
      families,
      mode: "projection",
      handle,
      handleChunk: handle.handleChunk,
      claimLate: handle.claimLate,
      passOver: handle.passOver,
    },
  ];
}
