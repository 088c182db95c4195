/**
 * @shenguan/linkage: the 审管联动 process manager and read models. The bus
 * runner builds the app, feeds `createLinkageProjection`'s handler from
 * Kafka (runProjectionConsumer, or startLinkageConsumer) and calls `tick`
 * every few seconds.
 */
export { buildLinkageApp, type LinkageDeps, type LinkageRuntime } from "./app.js";
export { createLinkageProjection, LINKAGE_PROJECTION, linkageTopics, linkageTopicsOf, type LinkageHandler } from "./projection.js";
export { startLinkageConsumer } from "./consumer.js";
export { migrateLinkage, READ_MODEL_TABLES } from "./schema.js";
export { tick, type LinkageTickOutcome } from "./timer.js";
export { commitmentEligibility, type BarringRecord, type CommitmentEligibilityResult } from "./credit/credit.js";
export { rebuildLinkage } from "./rebuild.js";
export { Calendars, CalendarNotLoadedRefusal } from "./calendar/calendars.js";
export {
  linkageContext,
  contextOf,
  type LinkageSetup,
  DEFAULT_YELLOW_SHARE,
  DEFAULT_LINKAGE_DEPARTMENT,
  type LinkageContext,
  type LinkageOptions,
  type LinkageLogger,
} from "./context.js";
export { handoffIdOf, handoffStream, type HandoffStatus, type HandoffView } from "./handoff/handoffs.js";
export { deadlineIdOf, deadlineStream, type DeadlineStatus, type DeadlineView } from "./deadline/deadlines.js";
export { regionCandidates, pickRoute, type Route } from "./routing/routes.js";
export { indicators, type Indicators, type IndicatorGrouping } from "./indicators/indicators.js";
export { linkageConsumers } from "./consumers.js";
