/** The stream the LogSealer appends its block seals to. */
export const SEAL_STREAM = "shenguan-seals";

/** The event type of a block seal; internal (not a contract), so the relay never publishes it. */
export const LOG_SEALED = "LogSealed";

/** The department the bus signs as: seal events and the seals themselves carry its key. */
export const BUS_DEPARTMENT = "SHENGUAN-BUS";
